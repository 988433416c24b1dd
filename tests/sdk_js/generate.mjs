// Run Together's TypeScript SDK (together-ai, pinned in package.json) against a together-magic server.
//
// The SDK reads TOGETHER_BASE_URL and TOGETHER_API_KEY from the environment itself, as a user's script
// would. stdin: {"calls": [<images.generate body>, ...], "list_models": true|false}. stdout: one JSON
// object {"sdk": version, "generations": [{"call", "response"} or {"call", "error"}], "models": ...}.
// Every call is made, failures included, so one run reports every model (tests/client/test_typescript_sdk.py
// decodes the images and checks them). Exit status 0 unless the script itself breaks.
import { readFileSync } from "node:fs";
import Together from "together-ai";
import { VERSION } from "together-ai/version";

const request = JSON.parse(readFileSync(0, "utf8"));
const client = new Together({ maxRetries: 0, timeout: 60_000 });

function failure(err) {
  return { name: err?.constructor?.name ?? typeof err, status: err?.status ?? null, message: String(err?.message ?? err) };
}

const generations = [];
for (const call of request.calls) {
  try {
    generations.push({ call, response: await client.images.generate(call) });
  } catch (err) {
    generations.push({ call, error: failure(err) });
  }
}

let models = null;
if (request.list_models) {
  try {
    models = { response: await client.models.list() };
  } catch (err) {
    models = { error: failure(err) };
  }
}

process.stdout.write(JSON.stringify({ sdk: VERSION, base_url: client.baseURL, generations, models }));
