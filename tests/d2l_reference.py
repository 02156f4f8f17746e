"""d2l's pure-Python WikiText reading, kept as a test oracle (unshuffled)."""


def read_wiki(path):
    """d2l's `_read_wiki` + `tokenize`: paragraphs of sentences of words."""
    with open(path, 'r', encoding='utf-8') as f:
        lines = f.readlines()
    paragraphs = [line.strip().lower().split(' . ')
                  for line in lines if len(line.split(' . ')) >= 2]
    return [[sentence.split() for sentence in p] for p in paragraphs]
