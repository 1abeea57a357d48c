// The benchmark's Express app: one trivial route. With XRAY=1 it carries
// aws-xray-sdk-express as the SDK's guide shows, with the SDK's default
// sampling (centralized, falling back to the local default rule as no
// daemon answers its TCP proxy here), sending to AWS_XRAY_DAEMON_ADDRESS.
// Environment: PORT, XRAY.
// Modules come from ../../conformance/node_modules (npm ci there).
'use strict';
const path = require('path');
const modules = path.join(__dirname, '..', '..', 'conformance', 'node_modules');
const express = require(path.join(modules, 'express'));

const app = express();
let xrayExpress;
if (process.env.XRAY === '1') {
  const AWSXRay = require(path.join(modules, 'aws-xray-sdk-core'));
  xrayExpress = require(path.join(modules, 'aws-xray-sdk-express'));
  AWSXRay.setContextMissingStrategy('LOG_ERROR');
  app.use(xrayExpress.openSegment('bench-express'));
}
app.get('/', (req, res) => res.send('ok\n'));
if (xrayExpress) {
  app.use(xrayExpress.closeSegment());
}
const server = app.listen(parseInt(process.env.PORT, 10), '127.0.0.1', () => console.log('ready'));
server.keepAliveTimeout = 60000;
