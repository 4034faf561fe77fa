"""Re-export of the conftest helpers, so test modules can import them by name."""

from tests.conftest import (  # noqa: F401
    EXAMPLE,
    ROOT,
    Run,
    TempDatabase,
    analyze_json,
    create_database,
    drop_database,
    hypopg_database,
    require_hypopg,
    run_capture,
    run_cli,
    run_python,
    url_for_database,
)
