/**
 * The process environment, changed for the length of one call: for suites that test how the
 * Docker CLI's variables are read.
 *
 * @module
 */

/**
 * Runs `fn` with some process.env entries replaced (undefined: removed), restoring them after.
 *
 * @example
 * await withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:2376' }, () => mobyWatcher().ready());
 */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * The Docker CLI's endpoint variables, all removed: a test starts from no client configuration.
 *
 * @example
 * await withEnv({ ...NO_CLIENT_ENV, HOME: home }, () => check());
 */
export const NO_CLIENT_ENV = { DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined, DOCKER_TLS: undefined };
