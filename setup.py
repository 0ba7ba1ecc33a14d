"""The one native part: ``media_bench.server._fastsend`` (see ``media_bench.server.fast_send``).
Everything else is declared in pyproject.toml. ``optional``: where it cannot be compiled (no C
compiler or Python headers) the install goes on and the pure-Python path is used."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "media_bench.server._fastsend",
            sources=["media_bench/native/fastsend.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
