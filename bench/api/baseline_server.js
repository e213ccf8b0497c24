// The floor of bench/api/run.sh: node's http module answering every request at once with a fixed
// JSON:API-sized body, on 127.0.0.1 at an ephemeral port, which it prints. Run by run.sh.
'use strict';
const http = require('http');
const body = JSON.stringify({data: {type: 'processes', id: 'p-1', attributes: {pad: 'x'.repeat(3000)}}});
const server = http.createServer((req, res) => {
  res.writeHead(200, {'content-type': 'application/vnd.api+json', 'content-length': Buffer.byteLength(body)});
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
