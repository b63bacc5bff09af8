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
        "a 256 x 256 table of pairs: merged tokens (ids from 256 up) do not fit": '''
def get_pair_counts(words):
    table = [[0] * 256 for _ in range(256)]
    for word, frequency in words.items():
        for left, right in zip(word, word[1:]):
            table[left][right] += frequency
    return {(left, right): table[left][right]
            for left in range(256) for right in range(256) if table[left][right]}
''',
        "packs a pair into one int as left * 256 + right: pairs with ids from 256 up collide": '''
def get_pair_counts(words):
    packed = {}
    for word, frequency in words.items():
        for left, right in zip(word, word[1:]):
            key = left * 256 + right
            packed[key] = packed.get(key, 0) + frequency
    return {divmod(key, 256): count for key, count in packed.items()}
''',
        "empties the caller's table (popitem loop)": '''
def get_pair_counts(words):
    counts = {}
    while words:
        word, frequency = words.popitem()
        for pair in zip(word, word[1:]):
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
        "str.replace on the ids written out: (11, 2) holds '1 2'": '''
def merge_pair(word, pair, new_id):
    text = " ".join(map(str, word))
    text = text.replace(f"{pair[0]} {pair[1]}", str(new_id))
    return tuple(int(token) for token in text.split())
''',
        "str.replace with spaces around the pair: adjacent occurrences share a space": '''
def merge_pair(word, pair, new_id):
    text = " " + " ".join(map(str, word)) + " "
    text = text.replace(f" {pair[0]} {pair[1]} ", f" {new_id} ")
    return tuple(int(token) for token in text.split())
''',
        "recursive: a long pre-token exceeds Python's recursion limit": '''
def merge_pair(word, pair, new_id):
    if len(word) < 2:
        return tuple(word)
    if (word[0], word[1]) == pair:
        return (new_id,) + merge_pair(word[2:], pair, new_id)
    return (word[0],) + merge_pair(word[1:], pair, new_id)
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
        "ties broken by the left id only, then by order of appearance": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(word): count for word, count in word_counts.items()}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair[0]))
        merges[best] = new_id
        words = {merge_pair(word, best, new_id): count for word, count in words.items()}
    return merges
''',
        "rewrites the caller's word_counts in place": '''
def train_bpe(word_counts, num_merges):
    words = word_counts
    for word in list(words):
        words[tuple(word)] = words.pop(word)
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges[best] = new_id
        for word in list(words):
            words[merge_pair(word, best, new_id)] = words.pop(word)
    return merges
''',
        "starts from code points (decoded text), not from UTF-8 bytes": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(map(ord, word.decode("utf-8"))): count for word, count in word_counts.items()}
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
        "stops once the best pair occurs only once": '''
def train_bpe(word_counts, num_merges):
    words = {tuple(word): count for word, count in word_counts.items()}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts or max(counts.values()) < 2:
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
        "merges in the caller's list": '''
def encode_chunk(ids, merges):
    while True:
        candidates = [(merges[pair], i) for i, pair in enumerate(zip(ids, ids[1:])) if pair in merges]
        if not candidates:
            return ids
        new_id, i = min(candidates)
        ids[i:i + 2] = [new_id]
''',
        "replays every merge once, in the dict's order, not by new id": '''
def encode_chunk(ids, merges):
    word = tuple(ids)
    for pair, new_id in merges.items():
        word = merge_pair(word, pair, new_id)
    return list(word)
''',
        "ranks merges by their position in the dict, not by the id they make": '''
def encode_chunk(ids, merges):
    rank = {pair: position for position, pair in enumerate(merges)}
    word = tuple(ids)
    while True:
        candidates = [pair for pair in zip(word, word[1:]) if pair in rank]
        if not candidates:
            return list(word)
        pair = min(candidates, key=rank.get)
        word = merge_pair(word, pair, merges[pair])
''',
        "merges one occurrence at a time, the last one found": '''
def encode_chunk(ids, merges):
    word = list(ids)
    while True:
        positions = {pair: i for i, pair in enumerate(zip(word, word[1:])) if pair in merges}
        if not positions:
            return word
        pair = min(positions, key=merges.get)
        i = positions[pair]  # later occurrences overwrote earlier ones
        word[i:i + 2] = [merges[pair]]
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
        "incremental UTF-8 decoder never told the end: a character cut short at the end vanishes": '''
import codecs


def decode(ids, vocab):
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return "".join(decoder.decode(vocab[token_id]) for token_id in ids)
''',
        "falls back to token-by-token decoding when the bytes are not valid UTF-8": '''
def decode(ids, vocab):
    data = b"".join(vocab[token_id] for token_id in ids)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # broken text: decode each token, replacing what is invalid
        return "".join(vocab[token_id].decode("utf-8", errors="replace") for token_id in ids)
''',
        "pops the ids off the caller's list": '''
def decode(ids, vocab):
    data = b""
    while ids:
        data += vocab[ids.pop(0)]
    return data.decode("utf-8", errors="replace")
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
        "splits only the text between earlier matches, never a match again": '''
def pretokenize(text, patterns):
    pieces = [(text, False)]  # (piece, matched by an earlier pattern)
    for pattern in patterns:
        splitter = regex.compile(f"({pattern})")
        split = []
        for piece, matched in pieces:
            if matched:
                split.append((piece, True))
                continue
            for position, part in enumerate(splitter.split(piece)):
                if part:
                    split.append((part, position % 2 == 1))
        pieces = split
    return [piece for piece, _ in pieces]
''',
        "applies the patterns in reverse order": '''
def pretokenize(text, patterns):
    pieces = [text]
    for pattern in reversed(patterns):
        splitter = regex.compile(f"({pattern})")
        pieces = [part for piece in pieces for part in splitter.split(piece) if part]
    return pieces
''',
        "zips the gaps with the matches: the text after the last match is lost": '''
def pretokenize(text, patterns):
    pieces = [text]
    for pattern in patterns:
        split = []
        for piece in pieces:
            gaps, matches = regex.split(pattern, piece), regex.findall(pattern, piece)
            for gap, match in zip(gaps, matches):
                split += [part for part in (gap, match) if part]
        pieces = split
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
        "sorts the caller's list in place (and fails on a tuple, a set, a generator)": '''
def split_special(text, special_tokens):
    special_tokens.sort(key=len, reverse=True)
    if not special_tokens:
        return [text]
    alternatives = "|".join(regex.escape(token) for token in special_tokens)
    return regex.split(f"({alternatives})", text)
''',
        "tests `not special_tokens` before listing them: an empty iterator splits every character": '''
def split_special(text, special_tokens):
    if not special_tokens:
        return [text]
    longest_first = sorted(special_tokens, key=len, reverse=True)
    alternatives = "|".join(regex.escape(token) for token in longest_first)
    return regex.split(f"({alternatives})", text)
''',
        "str.split by one special token after another, longest first: not the leftmost match": '''
def split_special(text, special_tokens):
    pieces = [text]
    for token in sorted(special_tokens, key=len, reverse=True):
        split = []
        for position, piece in enumerate(pieces):
            if position % 2:
                split.append(piece)
                continue
            for k, part in enumerate(piece.split(token)):
                if k:
                    split.append(token)
                split.append(part)
        pieces = split
    return pieces
''',
    },
}
