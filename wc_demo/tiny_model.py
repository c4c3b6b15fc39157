"""Build a tiny random Llama with a real tokenizer and chat template, for tests and demos.

No model weights can be downloaded here, so tests need a model that is built locally: a byte-level
BPE tokenizer trained on the Python standard library's own source, and a randomly initialised
LlamaForCausalLM saved as a normal Hugging Face directory. Both builds are deterministic and
skipped when the output directory already holds a complete build with the same parameters.
"""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gpu_ops.errors import InputError

BOS_TOKEN = "<|bos|>"
EOS_TOKEN = "<|eos|>"
PAD_TOKEN = "<|pad|>"
END_OF_TURN = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, END_OF_TURN, *ROLE_TOKENS.values())

# Turns look like "<|role|>\n{content}<|end|>\n". The assistant content and its end-of-turn token
# sit inside {% generation %} so TRL's assistant_only_loss trains on the response only.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ '<|system|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ raise_exception('unknown role: ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

_STAMP = "tiny_build.json"
_BUILD_VERSION = 1
_CORPUS_BYTES = 1_500_000  # enough text for a 2k vocab, small enough to train in ~2 s


def stdlib_corpus_files(max_bytes: int = _CORPUS_BYTES) -> list[Path]:
    """A deterministic subset of the stdlib's top-level .py files (sorted by name, size-capped)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    chosen, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        size = path.stat().st_size
        if total + size > max_bytes:
            continue
        chosen.append(path)
        total += size
    if not chosen:
        raise InputError(f"no Python source found under the stdlib path {stdlib}")
    return chosen


def build_tokenizer(
    out_dir: str | Path,
    vocab_size: int = 2048,
    corpus_files: Sequence[str | Path] | None = None,
) -> Path:
    """Train a byte-level BPE tokenizer with chat special tokens; return the directory.

    The directory loads with AutoTokenizer and carries CHAT_TEMPLATE. Reused when complete.
    """
    if vocab_size < 256 + len(SPECIAL_TOKENS) + 1:
        raise InputError(f"vocab_size={vocab_size} is too small for a byte-level BPE")
    files = [Path(f) for f in (corpus_files or stdlib_corpus_files())]
    for f in files:
        if not f.is_file():
            raise InputError(f"corpus_files: {f} is not a file")
    params = {
        "kind": "tokenizer",
        "version": _BUILD_VERSION,
        "vocab_size": vocab_size,
        "corpus": [f.name for f in files],
        "chat_template": CHAT_TEMPLATE,
    }
    return _build_once(Path(out_dir), params, lambda tmp: _train_tokenizer(tmp, vocab_size, files))


def build_tiny_model(
    out_dir: str | Path,
    *,
    tokenizer_dir: str | Path | None = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_position_embeddings: int = 1024,
    seed: int = 0,
    head_dim: int | None = None,
) -> Path:
    """Save a random-init LlamaForCausalLM plus tokenizer as an HF directory; return it.

    head_dim None gives hidden_size / num_heads; set it (e.g. 64, what vLLM's CPU attention
    accepts) to size attention independently of the hidden width. Without tokenizer_dir a
    tokenizer is built in `out_dir/../tiny_tokenizer`. Reused when complete.
    """
    if head_dim is None and hidden_size % num_heads:
        raise InputError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
    if head_dim is not None and (isinstance(head_dim, bool) or head_dim < 1):
        raise InputError(f"head_dim must be None or >= 1, got {head_dim!r}")
    for name, value in [
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("intermediate_size", intermediate_size),
        ("max_position_embeddings", max_position_embeddings),
    ]:
        if value < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
    out_dir = Path(out_dir)
    tok_dir = (
        Path(tokenizer_dir) if tokenizer_dir else build_tokenizer(out_dir.parent / "tiny_tokenizer")
    )
    if not (tok_dir / "tokenizer.json").is_file():
        raise InputError(f"tokenizer_dir={tok_dir} holds no tokenizer.json")
    arch = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "intermediate_size": intermediate_size,
        "max_position_embeddings": max_position_embeddings,
        "seed": seed,
    }
    if head_dim is not None:  # absent by default: earlier builds keep their stamps
        arch["head_dim"] = head_dim
    params = {
        "kind": "model",
        "version": _BUILD_VERSION,
        **arch,
        "tokenizer": (tok_dir / "tokenizer.json").read_text(encoding="utf-8"),
    }
    return _build_once(out_dir, params, lambda tmp: _save_model(tmp, tok_dir, **arch))


def _build_once(out_dir: Path, params: dict, build: Callable[[Path], None]) -> Path:
    """Build into a temp sibling and rename it into place, unless a matching build exists."""
    if _is_complete(out_dir, params):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        build(tmp)
        (tmp / _STAMP).write_text(json.dumps(params, sort_keys=True), encoding="utf-8")
        if out_dir.exists():
            if _is_complete(out_dir, params):  # another process finished first
                return out_dir
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _is_complete(out_dir: Path, params: dict) -> bool:
    stamp = out_dir / _STAMP
    if not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == json.loads(json.dumps(params))
    except json.JSONDecodeError:
        return False


def _iter_texts(files: Sequence[Path]) -> Iterator[str]:
    for path in files:
        yield path.read_text(encoding="utf-8", errors="replace")


def _train_tokenizer(out_dir: Path, vocab_size: int, files: Sequence[Path]) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_iter_texts(files), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[END_OF_TURN, *ROLE_TOKENS.values()],
        model_max_length=1_000_000,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)


def _save_model(
    out_dir: Path,
    tok_dir: Path,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position_embeddings: int,
    seed: int,
    head_dim: int | None = None,
) -> None:
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        head_dim=head_dim if head_dim is not None else hidden_size // num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
