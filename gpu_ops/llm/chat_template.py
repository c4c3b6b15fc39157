"""Chat rendering through a model's own tokenizer chat template.

The Magpie pre-query template and the end-of-turn stop strings are derived from the template
itself by rendering conversations with sentinel contents and cutting at the sentinels, so every
model family works without hard-coded per-family strings.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

from gpu_ops.errors import InputError
from gpu_ops.llm.base import ModelSpec, check_conversation

_USER = "WCSENTINELUSERq7x"
_ASSISTANT = "WCSENTINELASSISTANTk3z"
_USER2 = "WCSENTINELUSERTWOm9w"


def template_hash(template: str | None, default_system_prompt: str | None) -> str:
    """Short hash of what shapes rendered prompts: the template and the default system prompt."""
    text = f"{template}\0{default_system_prompt}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


BUNDLED_PREFIX = "bundled:"
BUNDLED_DIR = Path(__file__).with_name("templates")


def bundled_template(name: str) -> str:
    """The text of a chat template shipped with the project (`bundled:deepseek_coder`)."""
    available = sorted(p.stem for p in BUNDLED_DIR.glob("*.jinja"))
    if name not in available:
        raise InputError(f"chat_template: no bundled template {name!r}; bundled: {available}")
    return (BUNDLED_DIR / f"{name}.jinja").read_text(encoding="utf-8")


def resolve_chat_template(value: str | None) -> str | None:
    """A template override: `bundled:NAME`, Jinja text as is, or the text of a `.jinja` file."""
    if value is None:
        return None
    if value.startswith(BUNDLED_PREFIX):
        return bundled_template(value.removeprefix(BUNDLED_PREFIX))
    looks_like_path = value.endswith(".jinja") and "{" not in value
    if looks_like_path:
        path = Path(value).expanduser()
        if not path.is_file():
            raise InputError(f"chat_template: file {value} does not exist")
        return path.read_text(encoding="utf-8")
    return value


def load_tokenizer(spec: ModelSpec, *, required: bool = True) -> Any | None:
    """AutoTokenizer for spec.tokenizer or spec.model (HF_HUB_OFFLINE is honoured by the hub).

    With required=False only local files are tried and None is returned when nothing is found.
    """
    source = spec.tokenizer or spec.model
    if not required and not spec.tokenizer and not _available_locally(source, spec.revision):
        return None  # skip importing transformers for a served model with no local tokenizer
    if required and _is_missing_local_path(source):
        raise InputError(
            f"{spec.slug}: model directory {source} does not exist (a model the project builds, "
            "such as the demo experts of `warriorcoder build-demo-experts`, is built first)"
            if not spec.tokenizer
            else f"{spec.slug}: tokenizer directory {source} does not exist"
        )
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"revision": spec.revision} if spec.revision else {}
    if not required and not spec.tokenizer:
        kwargs["local_files_only"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except Exception as exc:
        if not required:
            return None
        raise InputError(f"cannot load tokenizer {source!r} for {spec.slug}: {exc}") from exc
    override = resolve_chat_template(spec.chat_template)
    if override is not None:
        tokenizer.chat_template = override
    return tokenizer


def _available_locally(source: str, revision: str | None) -> bool:
    """A local directory, or a hub id whose tokenizer config is in the local HF cache."""
    if Path(source).expanduser().is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, "tokenizer_config.json", revision=revision)
    except Exception:  # not a valid repo id
        return False
    return isinstance(found, str)


class ChatRenderer:
    """Renders conversations, pre-queries and stop strings from one tokenizer's template."""

    def __init__(self, tokenizer: Any, *, name: str, default_system_prompt: str | None = None):
        self.tokenizer = tokenizer
        self.name = name
        self.default_system_prompt = default_system_prompt

    @cached_property
    def template_hash(self) -> str:
        return template_hash(
            getattr(self.tokenizer, "chat_template", None), self.default_system_prompt
        )

    @property
    def has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _apply(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if not self.has_template:
            raise InputError(
                f"{self.name}: the tokenizer has no chat template; set chat_template in the spec"
            )
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except Exception as exc:
            raise InputError(f"{self.name}: chat template failed on {messages!r}: {exc}") from exc

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        messages = check_conversation(messages)
        if self.default_system_prompt is not None and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": self.default_system_prompt}, *messages]
        return self._apply(messages, add_generation_prompt)

    def render_prequery(self, system_prompt: str | None = None) -> str:
        """Render [system, user=SENTINEL] and cut at the sentinel: ends where user text starts."""
        messages = [{"role": "user", "content": _USER}]
        system = system_prompt if system_prompt is not None else self.default_system_prompt
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        text = self._apply(messages, add_generation_prompt=False)
        if text.count(_USER) != 1:
            raise InputError(
                f"{self.name}: the chat template alters user content; cannot derive a pre-query template"
            )
        return text[: text.index(_USER)]

    @cached_property
    def stop_strings(self) -> tuple[str, ...]:
        """End-of-turn strings after user and assistant content, plus the eos token.

        Rendered with sentinel contents: the first special token after a turn's content ends it;
        without one, the plain text between the content and the next turn's header does; when
        that is only whitespace (Alpaca style), the next header itself is the stop string.
        """
        eos = getattr(self.tokenizer, "eos_token", None)
        if not self.has_template:
            return (eos,) if eos else ()
        user, assistant = (
            {"role": "user", "content": _USER},
            {"role": "assistant", "content": _ASSISTANT},
        )
        without = self._apply([user], False)
        with_prompt = self._apply([user], True)
        assistant_open = with_prompt[len(without) :] if with_prompt.startswith(without) else ""
        user_open = without[: without.index(_USER)] if _USER in without else ""
        two = self._apply([user, assistant], False)
        found: list[str] = []
        user_region = _between(two, _USER, _ASSISTANT)
        user_end = self._turn_end(user_region, assistant_open) if user_region is not None else ""
        found.append(user_end)
        try:
            three = self._apply([user, assistant, {"role": "user", "content": _USER2}], False)
            assistant_region = _between(three, _ASSISTANT, _USER2)
        except InputError:  # templates that reject a third turn: look after the assistant only
            assistant_region = _after(two, _ASSISTANT)
        if assistant_region and user_end and assistant_region.lstrip().startswith(user_end):
            found.append(user_end)
        elif assistant_region:
            found.append(
                self._turn_end(assistant_region, _common_suffix(assistant_region, user_open))
            )
        if eos:
            found.append(eos)
        return tuple(dict.fromkeys(s for s in found if s))

    def _turn_end(self, region: str, next_header: str) -> str:
        """The first special token after the content; else the stripped text; else the next header."""
        specials = _special_tokens(self.tokenizer)
        hits = [(region.find(t), -len(t), t) for t in specials if t in region]
        if hits:
            return min(hits)[2]
        body = (
            region[: len(region) - len(next_header)]
            if next_header and region.endswith(next_header)
            else region
        )
        return body.strip() or next_header.strip()


def _common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return a[len(a) - n :]


def _special_tokens(tokenizer: Any) -> list[str]:
    tokens = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for added in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values():
        if getattr(added, "special", False):
            tokens.add(str(added))
    return sorted(t for t in tokens if t.strip())


def _between(text: str, start: str, end: str) -> str | None:
    if start not in text:
        return None
    rest = text[text.index(start) + len(start) :]
    return rest[: rest.index(end)] if end in rest else None


def _after(text: str, start: str) -> str | None:
    return text[text.index(start) + len(start) :] if start in text else None


def _is_missing_local_path(source: str) -> bool:
    """A path (absolute, ./ or ~/) rather than a hub id, with nothing there: the hub's own error
    for it ("Repo id must be in the form ...") does not say the directory is missing."""
    if not source.startswith(("/", "./", "../", "~")):
        return False
    return not Path(source).expanduser().exists()


class TemplateRendering:
    """The rendering half of a `ChatModel` whose prompts come from a local `ChatRenderer`
    (`self.renderer`): written once for every backend, mixed in before `ChatModel`."""

    renderer: ChatRenderer | None

    def chat_renderer(self) -> ChatRenderer:
        """The renderer; a backend that may lack a local template overrides this to say why."""
        return self.renderer

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self.chat_renderer().render_chat(messages, add_generation_prompt)

    def render_prequery(self, system_prompt: str | None = None) -> str:
        return self.chat_renderer().render_prequery(system_prompt)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return self.chat_renderer().stop_strings

    def encode(self, text: str) -> list[int]:
        """Token ids of a rendered prompt (the template already holds any bos token)."""
        return self.chat_renderer().tokenizer(text, add_special_tokens=False)["input_ids"]
