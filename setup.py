"""The native parts: ``media_bench.server._fastsend`` (see ``media_bench.server.fast_send``) and
``media_bench.client._fastcount`` (see ``media_bench.client.native_count``). Everything else is
declared in pyproject.toml. ``optional``: where they cannot be compiled (no C compiler or Python
headers) the install goes on and the pure-Python paths are used."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "media_bench.server._fastsend",
            sources=["media_bench/native/fastsend.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "media_bench.client._fastcount",
            sources=["media_bench/native/fastcount.c"],
            # no fused multiply-add: the same rounding as StreamCounter's Python arithmetic
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
    ]
)
