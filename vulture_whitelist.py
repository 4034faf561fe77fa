"""Names vulture reports as unused that are used by something it cannot see; each says what.

Run with the package: ``vulture src/idxadvisor vulture_whitelist.py --min-confidence 80``.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# sources/capture/runtime.py: _on_connection_created is a receiver of Django's
# connection_created signal, which calls it with sender= as a keyword; the signature must
# accept it.
_.sender
