"""The appliance's local CA certificate, for laptops and phones to trust (docs/deployment.md).

``GET /ca.crt`` serves the public certificate of the CA that signed the HTTPS server's
certificate (:mod:`appliance.system.tls`), without sign-in: a phone fetches it before it can
trust the panel's HTTPS.  Only the certificate: the CA's key never leaves data_dir/tls.
With a user-supplied ``tls_cert`` there is no local CA, and the page says so (404).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from appliance.system import tls

bp = Blueprint("certificate", __name__)
OPEN = {"certificate.ca"}  # GET only: no session, no form


@bp.get("/ca.crt")
def ca() -> Response:
    config = current_app.config["DAEMON"].config
    path = tls.ca_path(config)
    if path is None:
        return Response(
            "This appliance uses the certificate set in tls_cert, not one from its own CA:"
            " trust that certificate's issuer instead.\n",
            status=404,
            mimetype="text/plain",
        )
    return Response(
        path.read_bytes(),
        mimetype="application/x-x509-ca-cert",
        headers={"Content-Disposition": 'attachment; filename="appliance-ca.crt"'},
    )
