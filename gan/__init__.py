"""GAN studio library: datasets, networks, training, generation, metrics and attribution.

Needs torch and nothing else of this project; never imports Django. The caller passes the device
and the seed: importing this package touches no GPU and no global state.
"""
