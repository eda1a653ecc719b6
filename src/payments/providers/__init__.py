"""Payment providers behind one small interface (base.py); only their modules import SDKs."""
