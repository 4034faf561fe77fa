"""libcst edits of models files: Meta.indexes / Meta.constraints, imports, formatting kept."""

from __future__ import annotations

import ast
import textwrap

import pytest

from idxadvisor.generate.model_edit import (
    NeededImport,
    UnsafeEdit,
    add_to_meta,
    declared_names,
    remove_from_meta,
)

Q_IMPORT = NeededImport("django.db.models", "Q")
UPPER_IMPORT = NeededImport("django.db.models.functions", "Upper")

# Comments everywhere, odd spacing, single quotes, a trailing-comment list: all must survive.
MESSY = textwrap.dedent('''\
    # -*- coding: utf-8 -*-
    """Models with comments and odd formatting."""
    from django.db import models  # the ORM
    from django.db.models import F


    class Hook( models.Model ):   # a hook
        # the status
        status = models.CharField( max_length=16 )   # pending/failed
        next_retry_at = models.DateTimeField(null = True)

        class Meta :
            # keep this comment
            ordering = ['-id']   # newest first
            indexes = [
                models.Index(fields=['status'], name='hook_status_idx'),  # old one
                # a comment between entries
                models.Index(F('next_retry_at').desc(), name='hook_retry_idx'),  # last one
            ]

        def __str__(self):   # repr
            return self.status


    class Other(models.Model):
        name = models.TextField()
''')


def _lines_kept(before: str, after: str, changed: tuple[str, ...] = ()) -> None:
    """Every line of the original (but ``changed``) is still there, in order."""
    after_lines = iter(after.splitlines())
    for line in before.splitlines():
        if line in changed:
            continue
        assert any(line == a for a in after_lines), f"line lost or reordered: {line!r}"


def test_appends_to_existing_list_keeping_comments_and_formatting():
    element = (
        "models.Index(fields=['status', 'next_retry_at'], name='hook_sr_idx', "
        "condition=Q(status__in=['pending', 'failed']))"
    )
    out = add_to_meta(MESSY, "Hook", "indexes", element, name="hook_sr_idx", imports=[Q_IMPORT])
    _lines_kept(MESSY, out, changed=("from django.db.models import F",))
    ast.parse(out)
    # The file's quote style (single) is kept, the long call is broken over lines inside the
    # list, after the last entry and before the closing bracket.
    assert (
        "            models.Index(F('next_retry_at').desc(), name='hook_retry_idx'),  # last one\n"
        "            models.Index(\n"
        "                fields=['status', 'next_retry_at'],\n"
        "                name='hook_sr_idx',\n"
        "                condition=Q(status__in=['pending', 'failed']),\n"
        "            ),\n"
        "        ]\n"
    ) in out
    assert "from django.db.models import F, Q\n" in out  # merged into the existing import
    assert declared_names(out, "Hook", "indexes") == (
        "hook_status_idx",
        "hook_retry_idx",
        "hook_sr_idx",
    )


def test_same_name_twice_is_a_no_op():
    element = "models.Index(fields=['status'], name='hook_status_idx')"
    assert add_to_meta(MESSY, "Hook", "indexes", element, name="hook_status_idx") == MESSY


def test_creates_meta_before_methods_and_adds_imports():
    out = add_to_meta(
        MESSY,
        "Other",
        "indexes",
        "models.Index(Upper('name'), name='other_up_idx')",
        name="other_up_idx",
        imports=[UPPER_IMPORT],
    )
    _lines_kept(MESSY, out)
    assert out.endswith(
        textwrap.dedent("""\
        class Other(models.Model):
            name = models.TextField()

            class Meta:
                indexes = [
                    models.Index(Upper('name'), name='other_up_idx'),
                ]
    """)
    )
    # Sorted where isort would put it: after `from django.db.models import F`.
    assert "from django.db.models import F\nfrom django.db.models.functions import Upper\n" in out


def test_creates_meta_between_fields_and_methods():
    src = textwrap.dedent("""\
        from django.db import models


        class Rule(models.Model):
            name = models.TextField()
            def __str__(self):
                return self.name
    """)
    out = add_to_meta(
        src, "Rule", "indexes", "models.Index(fields=['name'], name='r_idx')", name="r_idx"
    )
    assert out == textwrap.dedent("""\
        from django.db import models


        class Rule(models.Model):
            name = models.TextField()

            class Meta:
                indexes = [
                    models.Index(fields=["name"], name="r_idx"),
                ]

            def __str__(self):
                return self.name
    """)


def test_adds_indexes_to_meta_without_one_and_constraints_beside_indexes():
    out = add_to_meta(
        MESSY,
        "Hook",
        "constraints",
        "models.UniqueConstraint(fields=['status', 'next_retry_at'], name='hook_uniq')",
        name="hook_uniq",
    )
    meta = out.split("class Meta :\n", 1)[1]
    assert "        constraints = [\n            models.UniqueConstraint(" in meta
    assert "ordering = ['-id']   # newest first" in meta
    ast.parse(out)


def test_uses_the_files_alias_for_django_db_models():
    src = "from django.db import models as m\n\n\nclass A(m.Model):\n    x = m.IntegerField()\n"
    out = add_to_meta(
        src, "A", "indexes", "models.Index(fields=['x'], name='a_x_idx')", name="a_x_idx"
    )
    assert 'm.Index(fields=["x"], name="a_x_idx")' in out
    assert "import models\n" not in out.replace("import models as m", "")


def test_one_line_list_stays_on_one_line():
    src = textwrap.dedent("""\
        from django.db import models


        class A(models.Model):
            x = models.IntegerField()

            class Meta:
                indexes = [models.Index(fields=["x"], name="a1")]
    """)
    out = add_to_meta(src, "A", "indexes", "models.Index(fields=['-x'], name='a2')", name="a2")
    assert (
        'indexes = [models.Index(fields=["x"], name="a1"), '
        'models.Index(fields=["-x"], name="a2")]' in out
    )


@pytest.mark.parametrize(
    ("meta_body", "why"),
    [
        ("indexes = build_indexes()", "not a literal list"),
        ("indexes = BASE + [models.Index(fields=['x'], name='b')]", "not a literal list"),
        ("indexes = [*BASE]", "unpacks"),
        ("indexes = []\n        indexes += EXTRA", "more than once"),
    ],
)
def test_dynamic_indexes_are_refused(meta_body, why):
    src = (
        "from django.db import models\n\n\nclass A(models.Model):\n    x = models.IntegerField()"
        f"\n\n    class Meta:\n        {meta_body}\n"
    )
    with pytest.raises(UnsafeEdit, match=why):
        add_to_meta(src, "A", "indexes", "models.Index(fields=['x'], name='a')", name="a")


def test_inherited_meta_and_abstract_parents_are_refused():
    inherited = textwrap.dedent("""\
        from django.db import models


        class A(Base):
            x = models.IntegerField()

            class Meta(Base.Meta):
                ordering = ["x"]
    """)
    with pytest.raises(UnsafeEdit, match=r"inherits from Base\.Meta"):
        add_to_meta(inherited, "A", "indexes", "models.Index(fields=['x'], name='a')", name="a")
    child = "from django.db import models\n\n\nclass A(TimeStamped):\n    x = 1\n"
    with pytest.raises(UnsafeEdit, match="a new Meta would hide the inherited one"):
        add_to_meta(child, "A", "indexes", "models.Index(fields=['x'], name='a')", name="a")


def test_missing_class_and_name_clash_are_refused():
    with pytest.raises(UnsafeEdit, match="class Nope is not defined"):
        add_to_meta(MESSY, "Nope", "indexes", "models.Index(fields=['x'], name='a')", name="a")
    clash = (
        "from django.db import models\nfrom myapp.query import Q\n\n\n"
        "class A(models.Model):\n    x = 1\n"
    )
    with pytest.raises(UnsafeEdit, match="already uses the name 'Q'"):
        add_to_meta(
            clash,
            "A",
            "indexes",
            "models.Index(fields=['x'], name='a', condition=Q(x=1))",
            name="a",
            imports=[Q_IMPORT],
        )


def test_remove_entry_keeps_neighbours_and_comments():
    out = remove_from_meta(MESSY, "Hook", "indexes", name="hook_retry_idx")
    assert "hook_retry_idx" not in out
    assert "models.Index(fields=['status'], name='hook_status_idx'),  # old one\n" in out
    assert "# a comment between entries" not in out  # it introduced the removed entry
    assert out.count("\n        ]\n") == 1  # the closing bracket keeps its indentation
    ast.parse(out)
    with pytest.raises(UnsafeEdit, match="no literal entry"):
        remove_from_meta(MESSY, "Hook", "indexes", name="missing_idx")
    first_gone = remove_from_meta(MESSY, "Hook", "indexes", name="hook_status_idx")
    assert "            # a comment between entries\n            models.Index(F(" in first_gone
    both_gone = remove_from_meta(first_gone, "Hook", "indexes", name="hook_retry_idx")
    assert "        indexes = []\n" in both_gone
    ast.parse(both_gone)


def test_empty_list_becomes_one_entry_per_line():
    src = textwrap.dedent("""\
        from django.db import models


        class A(models.Model):
            x = models.IntegerField()

            class Meta:
                indexes = []  # none yet
    """)
    out = add_to_meta(src, "A", "indexes", "models.Index(fields=['x'], name='a_x')", name="a_x")
    assert out.endswith(
        "        indexes = [\n"
        '            models.Index(fields=["x"], name="a_x"),\n'
        "        ]  # none yet\n"
    )
