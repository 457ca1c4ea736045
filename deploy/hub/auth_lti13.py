"""Log in from the school's learning platform (Canvas, Moodle, Open edX, ...) with LTI 1.3.

``jupyterhub_config.py`` loads this file when ``HUB_AUTH=lti13``. It uses ``jupyterhub-ltiauthenticator``
(the ``hub`` extra installs it). Register the hub as an LTI 1.3 tool in the platform first; the
platform then gives the four values below, read here from environment variables:

- ``LTI13_ISSUER``: the platform's issuer, e.g. ``https://canvas.instructure.com``;
- ``LTI13_CLIENT_ID``: the client id the platform gave the tool (several: comma-separated);
- ``LTI13_AUTHORIZE_URL``: the platform's OIDC authorization endpoint;
- ``LTI13_JWKS_ENDPOINT``: the platform's public keys (JWKS).

The tool's own URLs to enter in the platform are ``https://HUB/hub/lti13/oauth_login`` (login
initiation), ``https://HUB/hub/lti13/oauth_callback`` (redirect) and ``https://HUB/hub/lti13/config``
(a JSON description some platforms import). The platform decides who may launch the tool, so every
launched user is allowed in; a user whose LTI roles include Instructor (or Administrator) becomes a
hub admin, which opens the formgrader. A launch carries the user's email (``username_key``) as the
hub username. LTI needs HTTPS: serve the hub behind a TLS-terminating proxy (docs/deployment.md).
"""

# ruff: noqa: F821 - ``c`` is the configuration object both loaders provide: JupyterHub's
# load_subconfig (jupyterhub_config.py) and Zero to JupyterHub's jupyterhub_config.d (values.yaml).

import os

from ltiauthenticator.lti13.auth import LTI13Authenticator

ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
TEACHING_ROLES = ("#Instructor", "#Administrator")  # suffixes of the LIS role URIs


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"{name} is not set: HUB_AUTH=lti13 needs it (see deploy/hub/auth_lti13.py)")
    return value


class CourseLTI13Authenticator(LTI13Authenticator):
    """LTI 1.3, with the platform's instructors as hub admins (teachers)."""

    async def authenticate(self, handler, data=None):
        user = await super().authenticate(handler, data)
        roles = (data or {}).get(ROLES_CLAIM, [])
        user["admin"] = any(role.endswith(TEACHING_ROLES) for role in roles)
        return user


c.JupyterHub.authenticator_class = CourseLTI13Authenticator
c.LTI13Authenticator.issuer = required("LTI13_ISSUER")
c.LTI13Authenticator.client_id = {cid.strip() for cid in required("LTI13_CLIENT_ID").split(",")}
c.LTI13Authenticator.authorize_url = required("LTI13_AUTHORIZE_URL")
c.LTI13Authenticator.jwks_endpoint = required("LTI13_JWKS_ENDPOINT")
c.LTI13Authenticator.username_key = "email"
c.LTI13Authenticator.uri_scheme = "https"
c.LTI13Authenticator.allow_all = True  # the platform's course roster decides who may launch
c.LTI13Authenticator.tool_name = "Pruning & Sparsity course"
