"""qbo-recon: reconcile AWRA ERP finance records against QuickBooks Online.

Data flows one way: sources (``reconcile.sources``) load canonical frames
(``reconcile.frames``), pure stages (``match``, ``compare``, ``mappings``, ``triage``)
turn them into findings, and writers in ``reports`` only read the results.
"""

__version__ = "0.1.0"
