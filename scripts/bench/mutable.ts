/**
 * The mutable reference implementation the core is compared with: the same indexes as
 * `PortfolioSnapshot` (by ID, by name, by project with per-project ID and name indexes), kept
 * in native `Map`s that are updated in place, applying the same lifecycle actions and emitting
 * the same lifecycle events. Container records stay immutable objects (events hand them out).
 * No reconciliation bookkeeping: this is the floor an immutable design is measured against.
 *
 * @module
 */
import type { Action } from '../../lib/actions.js';
import type { ContainerDetails } from '../../lib/adapter.js';
import type { Container, LifecycleEvent } from '../../lib/model.js';
import { composeProject } from '../../lib/reducer.js';

interface MutableProject {
  readonly byId: Map<string, Container>;
  readonly idByName: Map<string, string>;
}

const none: readonly LifecycleEvent[] = Object.freeze([]);

export class MutablePortfolio {
  readonly byId = new Map<string, Container>();
  readonly idByName = new Map<string, string>();
  readonly projects = new Map<string, MutableProject>();

  get containerTotal(): number {
    return this.byId.size;
  }

  container(nameOrId: string): Container | undefined {
    return this.byId.get(nameOrId) ?? this.byId.get(this.idByName.get(nameOrId) ?? '');
  }

  /** Applies one action in place; returns the lifecycle events it caused. */
  apply(action: Action): readonly LifecycleEvent[] {
    switch (action.type) {
      case 'started': {
        if (!action.details) return none;
        const known = this.byId.get(action.id);
        const c = build(action.details);
        if (!known) {
          this.put(c);
          return [{ type: 'started', container: c, at: action.at }];
        }
        if (known.pid !== c.pid) {
          this.drop(known);
          this.put(c);
          return [
            { type: 'exited', container: known, at: action.at },
            { type: 'started', container: c, at: action.at },
          ];
        }
        this.replace(known, c);
        return none;
      }
      case 'died': {
        const known = this.byId.get(action.id);
        if (!known) return none;
        this.drop(known);
        return [{ type: 'exited', container: known, at: action.at }];
      }
      case 'paused':
      case 'unpaused': {
        const known = this.byId.get(action.id);
        const paused = action.type === 'paused';
        if (!known || known.paused === paused) return none;
        const c = Object.freeze({ ...known, paused });
        this.replace(known, c);
        return [{ type: action.type, container: c, at: action.at }];
      }
      case 'updated': {
        const known = this.byId.get(action.id);
        if (!known) return none;
        const name = action.name ?? known.name;
        const labels = action.labels ?? known.labels;
        const c = Object.freeze({ ...known, name, labels, project: composeProject({ id: known.id, name, labels }) });
        this.replace(known, c);
        return none;
      }
      default:
        return none;
    }
  }

  private put(c: Container): void {
    this.byId.set(c.id, c);
    this.idByName.set(c.name, c.id);
    let p = this.projects.get(c.project);
    if (!p) this.projects.set(c.project, (p = { byId: new Map(), idByName: new Map() }));
    p.byId.set(c.id, c);
    p.idByName.set(c.name, c.id);
  }

  private drop(c: Container): void {
    this.byId.delete(c.id);
    if (this.idByName.get(c.name) === c.id) this.idByName.delete(c.name);
    const p = this.projects.get(c.project);
    if (!p) return;
    p.byId.delete(c.id);
    if (p.idByName.get(c.name) === c.id) p.idByName.delete(c.name);
    if (p.byId.size === 0) this.projects.delete(c.project);
  }

  private replace(old: Container, c: Container): void {
    if (old.name !== c.name || old.project !== c.project) this.drop(old);
    this.put(c);
  }
}

function build(d: ContainerDetails): Container {
  const base = { id: d.id, name: d.name, labels: d.labels, pid: d.pid, paused: d.paused };
  return Object.freeze({ ...base, project: composeProject(base) });
}
