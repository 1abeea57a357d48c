"""The Flask oracle: an app instrumented exactly as the X-Ray SDK for Python
guide shows, with sampling off, sending to the UDP address in
AWS_XRAY_DAEMON_ADDRESS. Environment: PORT, SERVICE (the configured name),
DYNAMIC (a dynamic-naming pattern, or empty).

Routes answer what the conformance mix asks for: /r/<id>/status/<code>,
/r/<id>/boom (an exception in the view), /r/<id>/chunked (a streamed,
chunked response), anything else 200.
"""
import os
import sys

from flask import Flask, Response, request
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

app = Flask(__name__)

xray_recorder.configure(
    service=os.environ["SERVICE"],
    sampling=False,
    daemon_address=os.environ["AWS_XRAY_DAEMON_ADDRESS"],
    context_missing="LOG_ERROR",
)
if os.environ.get("DYNAMIC"):
    xray_recorder.configure(dynamic_naming=os.environ["DYNAMIC"])
XRayMiddleware(app, xray_recorder)


@app.route("/r/<rid>/status/<int:code>", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
def status(rid, code):
    if code in (204, 304):
        return Response(status=code)
    if code == 301:
        return Response("moved\n", status=301, headers={"Location": "/"})
    return Response("status %d\n" % code, status=code)


@app.route("/r/<rid>/boom")
def boom(rid):
    raise RuntimeError("boom in the view")


@app.route("/r/<rid>/chunked")
def chunked(rid):
    def gen():
        for i in range(3):
            yield "part %d\n" % i
    return Response(gen(), mimetype="text/plain")


@app.route("/r/<rid>/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
def anything(rid, rest):
    if request.method in ("POST", "PUT"):
        request.get_data()
    return "ok\n"


if __name__ == "__main__":
    # A production WSGI server, for keep-alive (Werkzeug's development
    # server closes every connection). Debian's python3-waitress is pure
    # Python; its directory is added when this interpreter lacks it.
    try:
        import waitress
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import waitress
    # waitress hands each request from its I/O thread to a worker; with
    # CPython's default 5 ms GIL switch interval the worker may wait that
    # long to run, which is the app's scheduling, not its time on the
    # request. A short interval keeps the SDK's clock next to the wire's.
    sys.setswitchinterval(0.0002)
    print("ready", flush=True)
    waitress.serve(app, host="127.0.0.1", port=int(os.environ["PORT"]), threads=4, _quiet=True)
