"""SQL text utilities shared by every stage.

* :mod:`.statements` — the one home for "what kind of statement is this, and is it exactly one
  statement": a lexer-level splitter and a kind classifier (``classify``), and the guard
  (``explain_refusal``) every statement passes before it is sent to PostgreSQL for EXPLAIN.
* :mod:`.canonical` — the one canonical SQL form for index keys, expressions and predicates.
* :mod:`.literals` — literals and parameters in PostgreSQL text.
"""
