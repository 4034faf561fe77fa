"""The libcst transformer that adds an entry to, or removes one from, ``Meta.<list>``."""

from __future__ import annotations

import libcst as cst

from idxadvisor.generate.model_edit.imports import _dotted
from idxadvisor.generate.model_edit.layout import _append, _code, _is_pass, _multiline_list, _remove
from idxadvisor.generate.model_edit.lookup import _entry_name, _find_assign, _find_meta
from idxadvisor.generate.model_edit.records import Inherited, MetaList, UnsafeEdit

# --- the transformation ----------------------------------------------------------------------


class _MetaEditor(cst.CSTTransformer):
    """Adds ``add`` to (or, when ``add`` is None, removes ``name`` from) Meta.<attribute>."""

    def __init__(
        self,
        model: str,
        attribute: MetaList,
        name: str,
        add: cst.BaseExpression | None,
        inherited: Inherited | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.attribute = attribute
        self.name = name
        self.add = add
        self.inherited = inherited
        self.changed = False
        self.error: str | None = None
        self.found_class = False
        self._depth = 0

    def raise_if_failed(self) -> None:
        if not self.found_class and self.error is None:
            self.error = f"class {self.model} is not defined at the top level of the file"
        if self.error is not None:
            raise UnsafeEdit(self.error)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._depth += 1
        return self._depth == 1  # only top-level classes are models we edit

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self._depth -= 1
        if self._depth != 0 or original.name.value != self.model:
            return updated
        if self.found_class:
            self.error = f"class {self.model} is defined more than once in the file"
            return updated
        self.found_class = True
        try:
            return self._edit_model(updated)
        except UnsafeEdit as exc:
            self.error = str(exc)
            return updated

    def _edit_model(self, cls: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(cls.body, cst.IndentedBlock):
            raise UnsafeEdit(f"class {self.model} is written on one line")
        meta = _find_meta(cls)
        if meta is None:
            if self.add is None:
                raise UnsafeEdit(f"{self.model} has no Meta")
            if self.inherited is not None:
                return self._insert_meta(cls, self._meta_base(cls, self.inherited))
            if len(cls.bases) != 1 or not _dotted(cls.bases[0].value).endswith("Model"):
                # An abstract parent's Meta is inherited only while the child declares none.
                raise UnsafeEdit(
                    f"{self.model} inherits from {_code(cls.bases[0].value) if cls.bases else '?'}"
                    "; a new Meta would hide the inherited one"
                )
            return self._insert_meta(cls, None)
        new_meta = self._edit_meta(meta)
        body = [new_meta if s is meta else s for s in cls.body.body]
        return cls.with_changes(body=cls.body.with_changes(body=body))

    def _edit_meta(self, meta: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(meta.body, cst.IndentedBlock):
            raise UnsafeEdit(f"{self.model}.Meta is written on one line")
        assign = _find_assign(meta, self.attribute)
        if assign is None:
            if self.add is None:
                raise UnsafeEdit(f"{self.model}.Meta has no {self.attribute}")
            spread = None
            if meta.bases and self.inherited is not None:
                if len(meta.bases) != 1:
                    raise UnsafeEdit(f"{self.model}.Meta has several bases")
                if self.inherited.declares:
                    spread = f"{_code(meta.bases[0].value)}.{self.attribute}"
            elif meta.bases:
                raise UnsafeEdit(
                    f"{self.model}.Meta inherits from {_code(meta.bases[0].value)}; a new "
                    f"{self.attribute} list would hide the inherited one"
                )
            stmt = cst.parse_statement(f"{self.attribute} = []\n")
            assert isinstance(stmt, cst.SimpleStatementLine)
            stmt = stmt.with_changes(body=[stmt.body[0].with_changes(value=self._new_list(spread))])
            body = list(meta.body.body)
            if len(body) == 1 and _is_pass(body[0]):
                body = []
            self.changed = True
            return meta.with_changes(body=meta.body.with_changes(body=[*body, stmt]))
        value = assign.value
        if not isinstance(value, cst.List | cst.Tuple) or (
            isinstance(value, cst.Tuple) and not value.lpar
        ):
            shown = "no value" if value is None else _code(value)[:60]  # `indexes: list`
            raise UnsafeEdit(f"{self.model}.Meta.{self.attribute} is not a literal list ({shown})")
        names = [_entry_name(e.value) for e in value.elements]
        if self.add is not None:
            if self.name in names:
                return meta
            if self.inherited is None and any(
                isinstance(e, cst.StarredElement) for e in value.elements
            ):
                # Only Django knows whether the unpacked list already holds the entry.
                raise UnsafeEdit(f"{self.model}.Meta.{self.attribute} unpacks another list")
            new_value = _append(value, self.add)
        else:
            if self.name not in names:
                return meta
            new_value = _remove(value, names.index(self.name))
        self.changed = True
        new_assign = assign.with_changes(value=new_value)

        class _Swap(cst.CSTTransformer):
            def leave_Assign(self, o: cst.Assign, u: cst.Assign) -> cst.BaseSmallStatement:
                return new_assign if o is assign else u

            def leave_AnnAssign(self, o: cst.AnnAssign, u: cst.AnnAssign) -> cst.BaseSmallStatement:
                return new_assign if o is assign else u

        swapped = meta.visit(_Swap())
        assert isinstance(swapped, cst.ClassDef)  # one assignment swapped, the class kept
        return swapped

    def _meta_base(self, cls: cst.ClassDef, inherited: Inherited) -> str | None:
        """The source of the base whose Meta the model inherits (``Base``), or None."""
        if inherited.owner is None:
            return None
        for base in cls.bases:
            if base.keyword is None and _dotted(base.value).rsplit(".", 1)[-1] == inherited.owner:
                return _code(base.value)
        raise UnsafeEdit(
            f"{self.model} inherits its Meta from {inherited.owner}, which is not one of its "
            "bases in this file"
        )

    def _new_list(self, spread: str | None) -> cst.List:
        assert self.add is not None
        if spread is None:
            return _multiline_list([self.add])
        return _multiline_list([cst.StarredElement(cst.parse_expression(spread)), self.add])

    def _insert_meta(self, cls: cst.ClassDef, base: str | None) -> cst.ClassDef:
        assert self.add is not None
        header = f"class Meta({base}.Meta):" if base else "class Meta:"
        meta = cst.parse_statement(f"{header}\n    {self.attribute} = []\n")
        assert isinstance(meta, cst.ClassDef) and isinstance(meta.body, cst.IndentedBlock)
        assign_line = meta.body.body[0]
        assert isinstance(assign_line, cst.SimpleStatementLine)
        assign_line = assign_line.with_changes(
            body=[
                assign_line.body[0].with_changes(
                    value=self._new_list(
                        f"{base}.Meta.{self.attribute}"
                        if base and self.inherited and self.inherited.declares
                        else None
                    )
                )
            ]
        )
        meta = meta.with_changes(
            body=meta.body.with_changes(body=[assign_line]),
            leading_lines=[cst.EmptyLine(indent=False)],
        )
        assert isinstance(cls.body, cst.IndentedBlock)  # the caller refused one-line classes
        body = list(cls.body.body)
        # Django's style: fields, then Meta, then methods.
        at = next((i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)), len(body))
        method = body[at] if at < len(body) else None
        if isinstance(method, cst.FunctionDef) and not method.leading_lines:
            body[at] = method.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        body.insert(at, meta)
        self.changed = True
        return cls.with_changes(body=cls.body.with_changes(body=body))
