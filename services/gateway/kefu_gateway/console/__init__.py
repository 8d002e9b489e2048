"""The supervisor's console (issue #12): a web page served by the gateway itself.

The page is a client of our own API (the same routes, bearer tokens and problem+json); this
package only serves it and its assets. Every panel's data comes from a `/v1` route: the
panels are ES modules under `static/js/panels/`, one per panel. See docs/console.md.
"""

from kefu_gateway.console.routes import install

__all__ = ["install"]
