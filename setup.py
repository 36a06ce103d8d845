"""The one C extension: the encoder's member check (``pytest_sanctum/_json_members.c``).

Everything else is in ``pyproject.toml``. The extension is optional: without a C compiler
the install still succeeds and ``pytest_sanctum.json_codec`` runs the same check in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pytest_sanctum._json_members",
            sources=["pytest_sanctum/_json_members.c"],
            optional=True,
        )
    ]
)
