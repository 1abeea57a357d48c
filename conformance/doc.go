// Package conformance compares xray-capture with the official X-Ray SDK
// middleware on the same requests: a Flask app with the Python SDK's
// XRayMiddleware and an Express app with aws-xray-sdk-express each send
// their segments to one fake daemon, while xray-capture watches the app's
// port live and sends to another. Every field of every segment is compared;
// a difference is either a bug or one of the choices of docs/segments.md,
// listed in documentedChoices with the reason. The test writes the table
// of docs/conformance.md (go test ./conformance -update).
package conformance
