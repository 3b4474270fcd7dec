import type { Container } from './model.js';

/**
 * The one order of containers in every list a portfolio hands out: by name, then by ID (two
 * engines of a fleet may hold the same name; IDs differ, and equal IDs compare equal).
 *
 * @example
 * [...containers].sort(byName);
 */
export function byName(a: Container, b: Container): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
