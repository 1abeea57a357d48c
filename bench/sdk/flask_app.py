"""The benchmark's Flask app: one trivial route, served by waitress (a
production WSGI server with keep-alive). With XRAY=1 it carries the X-Ray
SDK middleware exactly as the SDK's guide shows, with the SDK's default
sampling (centralized, falling back to the local default rule, 1 request a
second and 5% of the rest, as no daemon answers its TCP proxy here),
sending to AWS_XRAY_DAEMON_ADDRESS. Environment: PORT, XRAY.
"""
import os
import sys

from flask import Flask

app = Flask(__name__)

if os.environ.get("XRAY") == "1":
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

    xray_recorder.configure(
        service="bench-flask",
        daemon_address=os.environ["AWS_XRAY_DAEMON_ADDRESS"],
        context_missing="LOG_ERROR",
    )
    XRayMiddleware(app, xray_recorder)


@app.route("/")
def index():
    return "ok\n"


if __name__ == "__main__":
    try:
        import waitress
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import waitress
    print("ready", flush=True)
    waitress.serve(app, host="127.0.0.1", port=int(os.environ["PORT"]), threads=4, _quiet=True)
