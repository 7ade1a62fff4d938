"""The sandbox message templates render in: Jinja's immutable sandbox, with every operation
that can multiply a value checked before it computes.

A template is written by a person, and a typo (``* 1000000000``) or a hostile edit must not
make the server allocate gigabytes: operators (``*``, ``**``, ``+``, ``%``), ``~`` and the
filters that grow text (``replace``, ``join``, ``wordwrap``) refuse a result over
:data:`MAX_VALUE_CHARS` (or a number over :data:`MAX_INT_BITS`) with
:class:`TemplateTooLarge` before building it; string methods that pad are not callable at all.
The whole output is capped by the caller (``templating.render_source``) at
:data:`MAX_RENDERED_CHARS`.

Time is bounded by counting, not by a clock: inside :func:`budget` every loop iteration and
every call (a macro, a method, ``loop()`` of a recursive loop) spends one step, and a render
that spends more than :data:`MAX_STEPS` is refused with :class:`TemplateTooCostly`. Loops that
print nothing (``{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}``) and macros that
call themselves twice are therefore stopped after a bounded amount of work, whatever they
print; deep recursion stops at the budget or at Python's recursion limit, whichever is first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace, do_wordwrap
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

# What a template may build while it renders: no string or list over MAX_VALUE_CHARS, no
# number over MAX_INT_BITS, no output over MAX_RENDERED_CHARS. A message is a few kB; these
# only stop a template (a typo, or a hostile one) from eating the server's memory.
MAX_VALUE_CHARS = 100_000
MAX_RENDERED_CHARS = 200_000
MAX_INT_BITS = 4_096
# Loop iterations plus calls in one render. A message template loops over a handful of items;
# 50,000 steps take a few tens of milliseconds.
MAX_STEPS = 50_000

_steps_left: ContextVar[list[int] | None] = ContextVar("template_steps_left", default=None)


class TemplateTooLarge(SecurityError):
    """The template would build a value or an output over the limits above."""


class TemplateTooCostly(SecurityError):
    """The template would do more than :data:`MAX_STEPS` steps (loop iterations and calls)."""


@contextmanager
def budget(steps: int = MAX_STEPS) -> Iterator[None]:
    """Count steps while rendering inside this block; outside one, nothing is counted (the
    shipped, reviewed templates)."""
    token = _steps_left.set([steps])
    try:
        yield
    finally:
        _steps_left.reset(token)


def _spend() -> None:
    left = _steps_left.get()
    if left is None:
        return
    left[0] -= 1
    if left[0] < 0:
        raise TemplateTooCostly(
            f"the template does too much work (over {MAX_STEPS:,} loop steps and calls)"
        )


def _too_large(what: str) -> TemplateTooLarge:
    return TemplateTooLarge(f"{what} would be too large (at most {MAX_VALUE_CHARS} characters)")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_size(value: Any, what: str) -> Any:
    size = _size(value)
    if size is not None and size > MAX_VALUE_CHARS:
        raise _too_large(what)
    return value


# String methods that pad or multiply; the filters that do the same are checked instead.
_AMPLIFYING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace", "format", "format_map"}
)
# "%s" % x with a width or a precision from an argument ("%*s"), or one of 4+ digits.
_WIDE_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d{4,}|\d*\.(?:\*|\d{4,}))")
# "{:>2000000000}".format(x), or a width taken from an argument ("{:{w}}").
_WIDE_BRACE_FORMAT = re.compile(r"\{[^{}]*:[^{}]*(?:\d{4,}|\{)")


class _CheckedConcat(CodeGenerator):
    """Compiles ``~`` to :meth:`Sandbox.checked_concat` instead of a bare ``str.join``, and the
    iterable of every ``for`` to :meth:`Sandbox.counted_iter` (each iteration is a step)."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not getattr(node, "_counted", False):
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("counted_iter"), [node.iter], [], None, None
            )
            node._counted = True  # type: ignore[attr-defined]
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (immutable: a template cannot grow a list while looping over it), with
    the operators and filters that can multiply a value checked *before* they compute:
    ``{{ "x" * 2000000000 }}`` is refused at once instead of allocating 2 GB."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CheckedConcat

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        return super().call(__context, __obj, *args, **kwargs)

    def counted_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _spend()
            yield item

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_repeat(left, right)
            self._check_repeat(right, left)
            if _is_int(left) and _is_int(right):
                self._check_bits(abs(left).bit_length() + abs(right).bit_length())
        elif operator == "**":
            if _is_int(left) and _is_int(right) and right > 0:
                self._check_bits(max(abs(left).bit_length(), 1) * right)
            elif isinstance(right, (int, float)) and abs(right) > MAX_INT_BITS:
                raise TemplateTooLarge("the exponent is too large")
        elif operator == "+":
            sizes = (_size(left), _size(right))
            if None not in sizes and sum(s or 0 for s in sizes) > MAX_VALUE_CHARS:
                raise _too_large("the sum")
        elif operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise TemplateTooLarge("string formatting with a large or variable width")
        return _check_size(super().call_binop(context, operator, left, right), "the result")

    @staticmethod
    def _check_repeat(sequence: Any, times: Any) -> None:
        size = _size(sequence)
        if size is not None and _is_int(times) and size * max(times, 0) > MAX_VALUE_CHARS:
            raise _too_large("the repeated text")

    @staticmethod
    def _check_bits(bits: int) -> None:
        if bits > MAX_INT_BITS:
            raise TemplateTooLarge(f"the number would be over {MAX_INT_BITS} bits")

    def wrap_str_format(self, value: Any) -> Any:
        # Jinja hands str.format / format_map a sandboxed wrapper whatever is_safe_attribute
        # says; check the format string before it pads anything.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        if _WIDE_BRACE_FORMAT.search(str(value.__self__)):
            raise TemplateTooLarge("string formatting with a large or variable width")

        def checked(*args: Any, **kwargs: Any) -> str:
            return str(_check_size(wrapped(*args, **kwargs), "the formatted text"))

        return checked

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _AMPLIFYING_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def checked_concat(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b``: checked before joining (``{% set a = a ~ a %}`` doubles)."""
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > MAX_VALUE_CHARS:
            raise _too_large("the joined text")
        return "".join(texts)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@pass_eval_context
def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, old_text, new_text = str(s), str(old), str(new)
    hits = len(text) + 1 if not old_text else text.count(old_text)
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new_text) - len(old_text)) > MAX_VALUE_CHARS:
        raise _too_large("the replaced text")
    return do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = list(value)
    if attribute is None:
        total = sum(len(str(i)) for i in items) + len(str(d)) * max(len(items) - 1, 0)
        if total > MAX_VALUE_CHARS:
            raise _too_large("the joined text")
    return _check_size(do_join(eval_ctx, items, d, attribute), "the joined text")


@pass_environment
def wordwrap(environment: Any, s: str, *args: Any, **kwargs: Any) -> str:
    return str(_check_size(do_wordwrap(environment, s, *args, **kwargs), "the wrapped text"))
