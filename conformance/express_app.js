// The Node oracle: an Express app instrumented with aws-xray-sdk-express as
// its guide shows, sampling off, sending to AWS_XRAY_DAEMON_ADDRESS.
// Environment: PORT, SERVICE, DYNAMIC (a dynamic-naming pattern, or empty).
'use strict';
const AWSXRay = require('aws-xray-sdk-core');
const xrayExpress = require('aws-xray-sdk-express');
const express = require('express');

AWSXRay.setContextMissingStrategy('LOG_ERROR');
AWSXRay.middleware.disableCentralizedSampling();
// Sampling off: every request is traced.
AWSXRay.middleware.setSamplingRules({ version: 2, default: { fixed_target: 0, rate: 1 }, rules: [] });
if (process.env.DYNAMIC) {
  AWSXRay.middleware.enableDynamicNaming(process.env.DYNAMIC);
}

const app = express();
app.use(xrayExpress.openSegment(process.env.SERVICE));

app.all('/r/:rid/status/:code', (req, res) => {
  const code = parseInt(req.params.code, 10);
  if (code === 204 || code === 304) {
    res.status(code).end();
  } else if (code === 301) {
    res.status(301).set('Location', '/').send('moved\n');
  } else {
    res.status(code).send(`status ${code}\n`);
  }
});
app.get('/r/:rid/boom', () => {
  throw new Error('boom in the view');
});
app.get('/r/:rid/chunked', (req, res) => {
  res.type('text/plain');
  res.write('part 0\n');
  res.write('part 1\n');
  res.end('part 2\n');
});
app.all('/r/:rid/*', (req, res) => {
  req.on('data', () => {});
  req.on('end', () => res.send('ok\n'));
});

app.use(xrayExpress.closeSegment());
// Express's default error handler answers the exception with 500.

const server = app.listen(parseInt(process.env.PORT, 10), '127.0.0.1', () => {
  console.log('ready');
});
server.keepAliveTimeout = 60000;
