"""Plausible wrong answers to chapter 01's exercises; the hidden tests must make each lose points."""

MUTANTS = {
    "get_pair_counts": {
        "ignores word frequencies": '''
def get_pair_counts(words):
    counts = {}
    for word in words:
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts
''',
        "counts a pair once per word, however often it occurs there": '''
def get_pair_counts(words):
    counts = {}
    for word, frequency in words.items():
        for pair in set(zip(word, word[1:])):
            counts[pair] = counts.get(pair, 0) + frequency
    return counts
''',
        "misses the last pair of each word": '''
def get_pair_counts(words):
    counts = {}
    for word, frequency in words.items():
        for i in range(len(word) - 2):
            pair = (word[i], word[i + 1])
            counts[pair] = counts.get(pair, 0) + frequency
    return counts
''',
    },
    "merge_pair": {
        "drops a last token that is not merged": '''
def merge_pair(word, pair, new_id):
    merged = []
    i = 0
    while i < len(word) - 1:
        if (word[i], word[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)
''',
        "scans from the right": '''
def merge_pair(word, pair, new_id):
    merged = []
    i = len(word) - 1
    while i >= 0:
        if i > 0 and (word[i - 1], word[i]) == pair:
            merged.append(new_id)
            i -= 2
        else:
            merged.append(word[i])
            i -= 1
    return tuple(reversed(merged))
''',
    },
    "train_bpe": {
        "ties go to the pair seen first (max over the dict)": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(word): count for word, count in word_counts.items()}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = max(counts, key=counts.get)
        merges[best] = new_id
        words = {merge_pair(word, best, new_id): count for word, count in words.items()}
    return merges
''',
        "ties go to the largest pair": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(word): count for word, count in word_counts.items()}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = max(counts, key=lambda pair: (counts[pair], pair))
        merges[best] = new_id
        words = {merge_pair(word, best, new_id): count for word, count in words.items()}
    return merges
''',
        "ignores word frequencies": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(word): 1 for word in word_counts}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges[best] = new_id
        words = {merge_pair(word, best, new_id): count for word, count in words.items()}
    return merges
''',
    },
    "encode_chunk": {
        "merges the leftmost mergeable pair first, not the earliest learned": '''
def encode_chunk(ids, merges):
    word = tuple(ids)
    while True:
        pair = next((p for p in zip(word, word[1:]) if p in merges), None)
        if pair is None:
            return list(word)
        word = merge_pair(word, pair, merges[pair])
''',
        "merges the pair most frequent in the word first": '''
def encode_chunk(ids, merges):
    word = tuple(ids)
    while True:
        counts = {}
        for pair in zip(word, word[1:]):
            if pair in merges:
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return list(word)
        pair = max(counts, key=counts.get)
        word = merge_pair(word, pair, merges[pair])
''',
    },
    "decode": {
        "decodes each token on its own": '''
def decode(ids, vocab):
    return "".join(vocab[token_id].decode("utf-8", errors="replace") for token_id in ids)
''',
        "raises on invalid UTF-8": '''
def decode(ids, vocab):
    return b"".join(vocab[token_id] for token_id in ids).decode("utf-8")
''',
        "drops invalid bytes instead of writing U+FFFD": '''
def decode(ids, vocab):
    return b"".join(vocab[token_id] for token_id in ids).decode("utf-8", errors="ignore")
''',
    },
    "pretokenize": {
        "applies only the last pattern (no digit split)": '''
def pretokenize(text, patterns):
    return regex.findall(patterns[-1], text)
''',
        "joins all patterns into one regex": '''
def pretokenize(text, patterns):
    return regex.findall("|".join(patterns), text)
''',
        "keeps the matches, drops the text between them": '''
def pretokenize(text, patterns):
    pieces = [text]
    for pattern in patterns:
        pieces = [match for piece in pieces for match in regex.findall(pattern, piece)]
    return pieces
''',
    },
    "split_special": {
        "tries special tokens in the given order, not longest first": '''
def split_special(text, special_tokens):
    special_tokens = list(special_tokens)
    if not special_tokens:
        return [text]
    alternatives = "|".join(regex.escape(token) for token in special_tokens)
    return regex.split(f"({alternatives})", text)
''',
        "does not escape regex characters": '''
def split_special(text, special_tokens):
    longest_first = sorted(special_tokens, key=len, reverse=True)
    if not longest_first:
        return [text]
    return regex.split("(" + "|".join(longest_first) + ")", text)
''',
        "drops empty pieces": '''
def split_special(text, special_tokens):
    longest_first = sorted(special_tokens, key=len, reverse=True)
    if not longest_first:
        return [text]
    alternatives = "|".join(regex.escape(token) for token in longest_first)
    return [piece for piece in regex.split(f"({alternatives})", text) if piece]
''',
    },
}
