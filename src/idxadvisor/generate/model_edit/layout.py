"""Whitespace and layout: new lists and calls formatted as black would, comments kept."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from idxadvisor.generate.model_edit.records import _MAX_LINE


def _is_pass(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Pass)
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _newline_ws(last_line: str, comment_from: cst.ParenthesizedWhitespace | None = None):
    first = comment_from.first_line if comment_from is not None else cst.TrailingWhitespace()
    empty = comment_from.empty_lines if comment_from is not None else ()
    return cst.ParenthesizedWhitespace(
        first_line=first, empty_lines=empty, indent=True, last_line=cst.SimpleWhitespace(last_line)
    )


def _multiline_list(values: Sequence[cst.BaseExpression | cst.StarredElement]) -> cst.List:
    """``[\\n    a,\\n]`` relative to the statement's own indentation."""
    elements: list[cst.BaseElement] = []
    for i, v in enumerate(values):
        comma = cst.Comma(whitespace_after=_newline_ws("    " if i < len(values) - 1 else ""))
        if isinstance(v, cst.StarredElement):
            elements.append(v.with_changes(comma=comma))
        else:
            elements.append(cst.Element(value=_wrap_call(v, extra_indent=8), comma=comma))
    return cst.List(
        elements=elements,
        lbracket=cst.LeftSquareBracket(whitespace_after=_newline_ws("    ")),
        rbracket=cst.RightSquareBracket(),
    )


def _wrap_call(value: cst.BaseExpression, extra_indent: int, element_indent: str = "    "):
    """Break a long ``Index(...)`` call over one line per argument, black-style."""
    if not isinstance(value, cst.Call) or not value.args:
        return value
    # extra_indent: the block indentation the list sits in (Meta body inside a model class).
    if extra_indent + len(element_indent) + len(_code(value)) + 1 <= _MAX_LINE:
        return value
    arg_ws = _newline_ws(element_indent + "    ")
    args = [
        a.with_changes(
            comma=cst.Comma(
                whitespace_after=arg_ws if i < len(value.args) - 1 else _newline_ws(element_indent)
            )
        )
        for i, a in enumerate(value.args)
    ]
    return value.with_changes(args=args, whitespace_before_args=arg_ws)


def _append(value: cst.List | cst.Tuple, new: cst.BaseExpression) -> cst.List | cst.Tuple:
    elements = list(value.elements)
    opening = (
        value.lbracket.whitespace_after
        if isinstance(value, cst.List)
        else (value.lpar[0].whitespace_after)
    )
    closing_holder = value.rbracket if isinstance(value, cst.List) else value.rpar[0]
    closing = closing_holder.whitespace_before
    if not elements:
        if isinstance(value, cst.List):
            return _multiline_list([new])
        return value.with_changes(elements=[cst.Element(new, comma=cst.Comma())])
    last = elements[-1]
    if isinstance(opening, cst.ParenthesizedWhitespace) and isinstance(
        closing, cst.ParenthesizedWhitespace
    ):
        indent = opening.last_line.value
        separator = _newline_ws(indent, comment_from=closing)
        last_comma = last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()
        elements[-1] = last.with_changes(comma=last_comma.with_changes(whitespace_after=separator))
        elements.append(
            cst.Element(
                value=_wrap_call(new, extra_indent=8, element_indent=indent),
                comma=cst.Comma(),
            )
        )
        new_closing = _newline_ws(closing.last_line.value)
    else:  # one line: `[a, b]` → `[a, b, new]`
        last_comma = last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()
        elements[-1] = last.with_changes(
            comma=last_comma.with_changes(whitespace_after=cst.SimpleWhitespace(" "))
        )
        elements.append(cst.Element(value=new))
        new_closing = closing
    if isinstance(value, cst.List):
        return value.with_changes(
            elements=elements, rbracket=value.rbracket.with_changes(whitespace_before=new_closing)
        )
    rpar = [value.rpar[0].with_changes(whitespace_before=new_closing), *value.rpar[1:]]
    return value.with_changes(elements=elements, rpar=rpar)


def _remove(value: cst.List | cst.Tuple, index: int) -> cst.List | cst.Tuple:
    """Drop one entry with its own trailing comment; the comments above the next entry and the
    previous entry's trailing comment stay."""
    elements = list(value.elements)
    removed = elements.pop(index)
    if isinstance(value, cst.List):
        opening, closing = value.lbracket.whitespace_after, value.rbracket.whitespace_before
    else:
        opening, closing = value.lpar[0].whitespace_after, value.rpar[0].whitespace_before
    was_last = index == len(elements)
    if not elements:
        empty = cst.SimpleWhitespace("")
        if isinstance(value, cst.List):
            return value.with_changes(
                elements=[],
                lbracket=value.lbracket.with_changes(whitespace_after=empty),
                rbracket=value.rbracket.with_changes(whitespace_before=empty),
            )
        return value.with_changes(elements=[])
    after_removed = (
        closing
        if was_last or not isinstance(removed.comma, cst.Comma)
        else removed.comma.whitespace_after
    )
    before_removed = (
        # An entry with one after it always has its comma (a Comma, never MaybeSentinel).
        opening if index == 0 else elements[index - 1].comma.whitespace_after  # type: ignore[union-attr]
    )
    if isinstance(before_removed, cst.ParenthesizedWhitespace) and isinstance(
        after_removed, cst.ParenthesizedWhitespace
    ):
        # Keep the line comment of what comes before, the comment lines of what comes after.
        joined: cst.BaseParenthesizableWhitespace = after_removed.with_changes(
            first_line=before_removed.first_line
        )
    else:
        joined = after_removed if was_last else before_removed
    if index == 0:
        opening = joined
    elif was_last:
        prev = elements[-1]
        had_comma = isinstance(removed.comma, cst.Comma)
        elements[-1] = prev.with_changes(
            comma=cst.Comma() if had_comma else cst.MaybeSentinel.DEFAULT
        )
        closing = joined
    else:
        prev = elements[index - 1]
        elements[index - 1] = prev.with_changes(
            # Not the last entry: its comma is a Comma (see above).
            comma=prev.comma.with_changes(whitespace_after=joined)  # type: ignore[union-attr]
        )
    if isinstance(value, cst.List):
        return value.with_changes(
            elements=elements,
            lbracket=value.lbracket.with_changes(whitespace_after=opening),
            rbracket=value.rbracket.with_changes(whitespace_before=closing),
        )
    return value.with_changes(
        elements=elements,
        lpar=[value.lpar[0].with_changes(whitespace_after=opening), *value.lpar[1:]],
        rpar=[value.rpar[0].with_changes(whitespace_before=closing), *value.rpar[1:]],
    )
