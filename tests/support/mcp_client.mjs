// Drives `codex-wrap mcp` with the official MCP TypeScript SDK and prints one JSON report.
//
//   MCP_TS_MODULES=…/node_modules node mcp_client.mjs BINARY PROJECT_DIR
//
// The SDK is imported from the cached node_modules that scripts/mcp-client.sh installs.
const modules = process.env.MCP_TS_MODULES;
const sdk = `${modules}/@modelcontextprotocol/sdk/dist/esm`;
const { Client } = await import(`${sdk}/client/index.js`);
const { StdioClientTransport } = await import(`${sdk}/client/stdio.js`);
const { EmptyResultSchema } = await import(`${sdk}/types.js`);

const [binary, project] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: binary, args: ['mcp'], cwd: project, env: process.env, stderr: 'ignore',
});
const client = new Client({ name: 'codex-wrap-test', version: '1.0.0' });
await client.connect(transport);
const text = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text);
const report = { server: client.getServerVersion()?.name };
report.tools = (await client.listTools()).tools.map((t) => t.name).sort();
const route = await client.callTool({
  name: 'route', arguments: { prompt: 'write a python function that reverses a string' },
});
report.route = { error: !!route.isError, text: text(route) };
const together = await Promise.all([
  client.callTool({ name: 'route', arguments: { prompt: 'migrate the whole app to gRPC' } }),
  client.callTool({ name: 'context', arguments: { prompt: 'explain the billing flow', route: 'api' } }),
  client.callTool({ name: 'status', arguments: {} }),
  client.callTool({ name: 'route', arguments: { prompt: 'a regex for dates' } }),
]);
report.concurrent = together.map((r) => !!r.isError);
report.context = text(together[1]);
try {
  await client.request({ method: 'no/such/method', params: {} }, EmptyResultSchema);
  report.unknown_method = null;
} catch (e) {
  report.unknown_method = { code: e.code ?? null, message: String(e.message) };
}
await client.close();
console.log(JSON.stringify(report));
