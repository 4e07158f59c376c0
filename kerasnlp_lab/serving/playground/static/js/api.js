// The TF Serving REST API, the only thing the page talks to: status, metadata and predict
// (columnar "inputs" format). Same-origin requests only.

export const MODELS = ["attention_nmt", "transformer_translator", "char_generator", "autoencoder"];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const modelPath = (model) => `/v1/models/${encodeURIComponent(model)}`;

async function call(method, path, body) {
  const started = performance.now();
  const options = { method, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    options.headers = { "content-type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  const ms = performance.now() - started;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: text.slice(0, 500) };
  }
  if (!response.ok) {
    throw new ApiError(response.status, (json && json.error) || `HTTP ${response.status}`);
  }
  return { json, ms };
}

export async function status(model) {
  return (await call("GET", modelPath(model))).json;
}

let metadataCache = new Map();

export function forgetMetadata() {
  metadataCache = new Map();
}

// {version, signatures: {name: {inputs: {key: {dtype, shape}}, outputs: {...}}}} of a model.
export function metadata(model) {
  if (!metadataCache.has(model)) {
    const promise = call("GET", `${modelPath(model)}/metadata`).then(({ json }) =>
      parseMetadata(json),
    );
    promise.catch(() => metadataCache.delete(model));
    metadataCache.set(model, promise);
  }
  return metadataCache.get(model);
}

function parseTensors(map) {
  const tensors = {};
  for (const [key, info] of Object.entries(map || {})) {
    const shape = info.tensor_shape || {};
    tensors[key] = {
      dtype: String(info.dtype || "").replace(/^DT_/, "").toLowerCase(),
      shape: shape.unknown_rank ? null : (shape.dim || []).map((dim) => Number(dim.size)),
    };
  }
  return tensors;
}

export function parseMetadata(json) {
  const definitions =
    (json.metadata && json.metadata.signature_def && json.metadata.signature_def.signature_def) ||
    {};
  const signatures = {};
  for (const [name, definition] of Object.entries(definitions)) {
    if (name === "__saved_model_init_op") continue;
    signatures[name] = {
      inputs: parseTensors(definition.inputs),
      outputs: parseTensors(definition.outputs),
      method: definition.method_name || "",
    };
  }
  return { version: json.model_spec ? json.model_spec.version : "", signatures };
}

export async function hasSignature(model, signature) {
  try {
    return signature in (await metadata(model)).signatures;
  } catch {
    return false;
  }
}

// {outputs: {name: value}, ms}: one predict request; `ms` is the request's own time (fetch to
// parsed answer). A single-output signature's answer is keyed by its output name here.
export async function predict(model, signature, inputs) {
  const { signatures } = await metadata(model);
  const definition = signatures[signature];
  if (!definition) throw new ApiError(404, `${model} has no signature ${signature}`);
  const { json, ms } = await call("POST", `${modelPath(model)}:predict`, {
    signature_name: signature,
    inputs,
  });
  const names = Object.keys(definition.outputs);
  const outputs = names.length === 1 ? { [names[0]]: json.outputs } : json.outputs;
  return { outputs, ms };
}
