// The HTTP API client: JSON in and out, errors as `ApiError` carrying the server's stable
// `code` and its message (docs/http-api.md).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(base = '/api/v1') {
    this.base = base;
    /** The bearer token of the signed-in address, if any. */
    this.token = null;
  }

  async request(method, path, { json, text, contentType } = {}) {
    const headers = {};
    let body;
    if (json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (text !== undefined) {
      headers['content-type'] = contentType ?? 'text/plain';
      body = text;
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const response = await fetch(`${this.base}${path}`, { method, headers, body });
    const raw = await response.text();
    let value = null;
    if (raw !== '') {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    if (!response.ok) {
      const code = value?.code ?? 'http';
      const message = value?.message ?? `the server answered ${response.status}`;
      throw new ApiError(response.status, code, message);
    }
    return value;
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, json) {
    return this.request('POST', path, json === undefined ? {} : { json });
  }

  /** The address's balances and reputation. */
  account(address) {
    return this.get(`/accounts/${address}`);
  }

  /** What the server says of itself: `{status, version, now, ledger, operator, ...}`. */
  health() {
    return this.get('/health');
  }

  /** Issues credits to `to` (the operator only, embedded ledger): `{to, amount, available}`. */
  mint(to, amount) {
    return this.post('/ledger/mint', { to, amount });
  }

  /** The testing faucet: `{amount}`, null when the server has none. */
  faucet() {
    return this.get('/ledger/faucet');
  }

  /** Tops the signed-in account's available credits up to the faucet's amount. */
  drawFaucet() {
    return this.post('/ledger/faucet');
  }

  /** Experiments, newest first; `filter` may name `phase` (a list), `creator`, `limit` (up to
   * 500) and `offset`. */
  experiments(filter = {}) {
    const query = new URLSearchParams(filter).toString();
    return this.get(query ? `/experiments?${query}` : '/experiments');
  }

  experiment(id) {
    return this.get(`/experiments/${id}`);
  }

  stats(id) {
    return this.get(`/experiments/${id}/stats`);
  }

  settlement(id) {
    return this.get(`/experiments/${id}/settlement`);
  }

  /** A labeler's batches in an experiment with their commit and reveal status, and the
   * server's clock. */
  work(id, address) {
    return this.get(`/experiments/${id}/labelers/${address}/work`);
  }

  /** How likely a labeler like this one is to be rewarded here, by batches taken. */
  odds(id, address) {
    return this.get(`/experiments/${id}/labelers/${address}/odds`);
  }

  batch(id, batchId) {
    return this.get(`/experiments/${id}/batches/${batchId}`);
  }

  /** The signed-in labeler's practice in an experiment: items, score needed, answered, score,
   * qualified, and the next practice task (null when done). */
  practice(id) {
    return this.get(`/experiments/${id}/practice`);
  }

  /** Answers the labeler's current practice task with a label in its shown order; the answer
   * comes back with the verdict, the expected answer, the explanation and the progress. */
  practiceAnswer(id, task, label) {
    return this.post(`/experiments/${id}/practice/answers`, { task, label });
  }

  /** Imports a draft's practice tasks (JSONL, every line with its `gold` answer). */
  importPractice(id, text) {
    return this.request('POST', `/experiments/${id}/practice`, { text, contentType: 'application/x-ndjson' });
  }

  /** The key reveals may be sealed to at commit (`public_key` null: the server holds none). */
  sealingKey() {
    return this.get('/sealing-key');
  }

  commitOf(id, batchId) {
    return this.get(`/experiments/${id}/batches/${batchId}/commit`);
  }

  /** Where the dataset of a settled experiment downloads from. */
  exportUrl(id, format) {
    return `${this.base}/experiments/${id}/export?format=${format}`;
  }
}
