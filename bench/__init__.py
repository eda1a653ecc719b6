"""The benchmark behind `make bench`: the service against the limits of this machine.

`python -m bench.run` (bench/README.md says what each part measures and why).
"""
