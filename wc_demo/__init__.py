"""The demo: a world of compositional coding tasks with hidden tests, tiny experts that master
it, and the paper's comparison, as a plugin of the product.

It registers itself (pyproject entry points): the world under `warriorcoder.worlds`
(`wc_demo.plugin`, looked up by the name `demo-world`) and its Dagster asset, `demo_effect`,
under `warriorcoder.definitions` (`wc_demo.assets`). It imports the product; the product never
imports it.
"""
