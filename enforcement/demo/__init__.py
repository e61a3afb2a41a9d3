"""Demo and benchmark data, kept out of the production adapters: `fleet` writes a
synthetic national fleet as RDW open-data files (`zes register synth`, `zes up`, the
benchmarks and the tests load it through the real RDW loader)."""
