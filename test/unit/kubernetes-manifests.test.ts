/**
 * deploy/kubernetes: every YAML file parses; the base and the example overlay render with `kubectl kustomize`
 * (skipped with a message when neither kubectl nor kustomize is installed); every rendered object validates
 * against the Kubernetes OpenAPI schemas offline (kubernetes-models, plus a check that no field is unknown to the
 * schema); and the manifests agree with the code and with each other: image, ports, probe paths, mounted
 * Secret/ConfigMap keys vs the files the configs name, the projected token's audience vs the log's auth
 * audience, labels, security contexts, alert metric names. Finally the server is started with the example
 * overlay's log configuration (addresses and paths rewritten to loopback and a temp dir) and must serve.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { newVerifier } from '../../server/core/keys.js';
import { parseDockerfile, type Stage } from '../support/dockerfile.js';
import { cleanupAll, newDataDir, REPO_ROOT, startServer } from '../support/server-process.js';
import { CollectorMetrics } from '../../clients/collector/metrics.js';
import { parseAuditConfig } from '../../clients/auditor/index.js';
import { buildConfig, expandEnv } from '../../clients/collector/config.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const K8S = join(REPO_ROOT, 'deploy', 'kubernetes');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** `kubectl kustomize DIR` (or `kustomize build DIR`), or undefined when neither is installed. */
function kustomize(dir: string): Obj[] | undefined {
  for (const [cmd, args] of [['kubectl', ['kustomize', dir]], ['kustomize', ['build', dir]]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
    if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
  }
  return undefined;
}

const MODEL_MODULES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'batch/v1': 'kubernetes-models/batch/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

/**
 * Wraps `obj` so that every property the schema validator reads is recorded: a property the validator never
 * looks at is not in the schema (the Kubernetes schemas allow unknown fields; the API server would drop them).
 */
function tracked(obj: unknown, path: string, unread: { path: string; keys: Set<string> }[]): unknown {
  if (obj === null || typeof obj !== 'object') return obj;
  const keys = new Set(Array.isArray(obj) ? [] : Object.keys(obj));
  unread.push({ path, keys });
  const kids = Array.isArray(obj)
    ? obj.map((v, i) => tracked(v, `${path}/${i}`, unread))
    : Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, tracked(v, `${path}/${k}`, unread)]));
  return new Proxy(kids, {
    get(t, k, r) {
      if (typeof k === 'string') keys.delete(k);
      return Reflect.get(t, k, r) as unknown;
    },
    has(t, k) {
      if (typeof k === 'string') keys.delete(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      keys.clear(); // a map (labels, data): every key is read
      return Reflect.ownKeys(t);
    },
  });
}

/** Validates one object against its schema; returns the problems (schema errors and unknown fields). */
async function validate(o: Obj): Promise<string[]> {
  const mod = MODEL_MODULES[o['apiVersion'] as string];
  const name = `${o['kind']}/${o['metadata']?.['name']}`;
  if (mod === undefined) return [`${name}: no schema for apiVersion ${o['apiVersion']}`];
  const models = (await import(mod)) as Record<string, { prototype: { validate(): void } } | undefined>;
  const Model = models[o['kind'] as string];
  if (Model === undefined) return [`${name}: no schema for kind ${o['kind']} in ${o['apiVersion']}`];
  const unread: { path: string; keys: Set<string> }[] = [];
  const proxy = tracked(o, '', unread);
  try {
    Model.prototype.validate.call(proxy);
  } catch (err) {
    return [`${name}: ${(err as Error).message}`];
  }
  return unread.filter((u) => u.keys.size > 0).map((u) => `${name}: unknown field(s) at ${u.path || '/'}: ${[...u.keys].join(', ')}`);
}

const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x['kind'] === kind && x['metadata']['name'] === name);
  assert.ok(o !== undefined, `${kind}/${name} is rendered`);
  return o;
};
const findPrefix = (objs: Obj[], kind: string, prefix: string): Obj => {
  const o = objs.find((x) => x['kind'] === kind && (x['metadata']['name'] as string).startsWith(prefix));
  assert.ok(o !== undefined, `${kind}/${prefix}* is rendered`);
  return o;
};
const podSpec = (w: Obj): Obj => w['spec']['template']['spec'] as Obj;
const container = (w: Obj): Obj => podSpec(w)['containers'][0] as Obj;

/** The file behind an absolute path in a container: { volume, key } through its mounts and the volume's items. */
function resolveFile(w: Obj, path: string): { volume: Obj; key: string; mount: Obj } {
  const mounts = (container(w)['volumeMounts'] ?? []) as Obj[];
  const mount = mounts.filter((m) => path.startsWith(`${m['mountPath']}/`)).sort((a, b) => b['mountPath'].length - a['mountPath'].length)[0];
  assert.ok(mount !== undefined, `${path} is on a mounted volume of ${w['metadata']['name']}`);
  const rel = path.slice((mount['mountPath'] as string).length + 1);
  const volume = (podSpec(w)['volumes'] as Obj[]).find((v) => v['name'] === mount['name']) as Obj;
  assert.ok(volume !== undefined, `volume ${mount['name']}`);
  const items = (volume['secret']?.['items'] ?? volume['configMap']?.['items']) as Obj[] | undefined;
  const key = items === undefined ? rel : (items.find((i) => i['path'] === rel)?.['key'] as string);
  assert.ok(key !== undefined, `${path}: no item of volume ${volume['name']} has path ${rel}`);
  return { volume, key, mount };
}

function configOf(objs: Obj[], w: Obj): { file: string; config: Obj } {
  const args = container(w)['args'] as string[];
  const i = args.indexOf('--config');
  assert.ok(i >= 0, `${w['metadata']['name']} runs with --config`);
  const file = args[i + 1] as string;
  const { volume, key } = resolveFile(w, file);
  const cm = find(objs, 'ConfigMap', volume['configMap']['name'] as string);
  const text = cm['data']?.[key] as string | undefined;
  assert.ok(text !== undefined, `ConfigMap ${cm['metadata']['name']} has key ${key} (${file})`);
  return { file, config: parse(text) as Obj };
}

const portOf = (addr: string): number => Number(/:(\d+)$/.exec(addr)?.[1]);

describe('deploy/kubernetes', () => {
  test('every YAML file under deploy/ parses', () => {
    const files = walk(join(REPO_ROOT, 'deploy')).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(files.length >= 20, `${files.length} files`);
    for (const f of files) {
      for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) assert.deepEqual(d.errors.map((e) => e.message), [], f);
    }
  });

  const rendered: { name: string; objs: Obj[] }[] = [];
  before(() => {
    for (const dir of ['base', 'overlays/example']) {
      const objs = kustomize(join(K8S, dir));
      if (objs !== undefined) rendered.push({ name: dir, objs });
    }
  });

  test('kustomize renders the base and the example overlay', (t) => {
    if (rendered.length === 0) return t.skip('neither kubectl nor kustomize is installed');
    assert.equal(rendered.length, 2);
    const kinds = new Set((rendered[1] as { objs: Obj[] }).objs.map((o) => o['kind'] as string));
    for (const k of ['StatefulSet', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'NetworkPolicy', 'DaemonSet', 'Deployment', 'ServiceAccount', 'ServiceMonitor', 'PrometheusRule']) {
      assert.ok(kinds.has(k), `overlay renders a ${k}`);
    }
  });

  test('every rendered object validates against the Kubernetes API schemas (no unknown fields)', async (t) => {
    if (rendered.length === 0) return t.skip('neither kubectl nor kustomize is installed');
    const problems: string[] = [];
    for (const r of rendered) for (const o of r.objs) problems.push(...(await validate(o)).map((p) => `${r.name}: ${p}`));
    assert.deepEqual(problems, []);
  });

  test('the on-demand jobs (deploy/kubernetes/jobs/) validate and mount what fsck reads', async () => {
    const dir = join(K8S, 'jobs');
    const problems: string[] = [];
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
      for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) problems.push(...(await validate(d.toJS() as Obj)).map((p) => `${f}: ${p}`));
    }
    assert.deepEqual(problems, []);
    const job = parse(readFileSync(join(dir, 'fsck-job.yaml'), 'utf8')) as Obj;
    const args = container(job)['args'] as string[];
    assert.equal(args[0], 'fsck');
    const key = resolveFile(job, args[args.indexOf('--key') + 1] as string);
    assert.equal(key.volume['secret']['secretName'], 'tilelog-log-key');
    assert.equal(key.key, 'log.key');
    const data = resolveFile(job, `${args[args.indexOf('--data') + 1]}/leveldb`);
    assert.equal(data.volume['persistentVolumeClaim']['claimName'], 'data-tilelog-0', 'the StatefulSet\'s first claim (data-tilelog-0)');
  });

  test('the schema check catches mistakes (a typo, a wrong type)', async () => {
    const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', securityContext: { readOnlyRootFs: true } }] } } } };
    assert.match((await validate(bad)).join('\n'), /unknown field\(s\) at \/spec\/template\/spec\/containers\/0\/securityContext: readOnlyRootFs/);
    const wrong = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 'eighty' }] } };
    assert.match((await validate(wrong)).join('\n'), /port must be integer/);
  });

  describe('cross-checks', () => {
    for (const which of ['base', 'overlays/example']) {
      test(`${which}: manifests agree with the code and with each other`, (t) => {
        const r = rendered.find((x) => x.name === which);
        if (r === undefined) return t.skip('neither kubectl nor kustomize is installed');
        const objs = r.objs;
        const sts = find(objs, 'StatefulSet', 'tilelog');
        const ds = find(objs, 'DaemonSet', 'tilelog-collector');
        const auditor = find(objs, 'Deployment', 'tilelog-auditor');
        const workloads = [sts, ds, auditor];
        const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

        // Image: one image everywhere, tagged with the package version (and the Dockerfile's default VERSION).
        const images = new Set(workloads.flatMap((w) => (podSpec(w)['containers'] as Obj[]).map((c) => c['image'] as string)));
        assert.deepEqual([...images], [`ghcr.io/example/tilelog:${pkg.version}`]);
        const { stages } = parseDockerfile(join(REPO_ROOT, 'deploy', 'Dockerfile'));
        const final = stages[stages.length - 1] as Stage;
        assert.ok(final.instructions.some((i) => i.op === 'ARG' && i.args === `VERSION=${pkg.version}`), 'Dockerfile VERSION = package version');
        // Subcommands.
        assert.deepEqual((container(sts)['args'] as string[]).slice(0, 1), ['serve']);
        assert.deepEqual((container(ds)['args'] as string[]).slice(0, 3), ['collect', '--config', '/etc/tilelog/collector.yaml']);
        assert.deepEqual((container(auditor)['args'] as string[]).slice(0, 3), ['audit', '--config', '/etc/tilelog/auditor.yaml']);

        // The log's config: ports, files, audience.
        const { config: log } = configOf(objs, sts);
        const ports = Object.fromEntries((container(sts)['ports'] as Obj[]).map((p) => [p['name'], p['containerPort']]));
        assert.equal(ports['http'], portOf(log['http'] as string), 'containerPort http = config http');
        assert.equal(ports['grpc'], portOf(log['grpc'] as string), 'containerPort grpc = config grpc');
        assert.equal(sts['spec']['template']['metadata']['annotations']['prometheus.io/port'], String(ports['http']));
        for (const svcName of ['tilelog', 'tilelog-headless']) {
          const svc = find(objs, 'Service', svcName);
          assert.deepEqual((svc['spec']['ports'] as Obj[]).map((p) => [p['name'], p['port'], p['targetPort']]), [['http', ports['http'], 'http'], ['grpc', ports['grpc'], 'grpc']]);
          assert.deepEqual((svc['spec']['ports'] as Obj[]).map((p) => p['appProtocol']), ['http', 'kubernetes.io/h2c']);
          for (const [k, v] of Object.entries(svc['spec']['selector'] as Obj)) assert.equal(sts['spec']['template']['metadata']['labels'][k], v, `${svcName} selects the log pods`);
        }
        assert.equal(find(objs, 'Service', 'tilelog-headless')['spec']['clusterIP'], 'None');
        assert.equal(sts['spec']['serviceName'], 'tilelog-headless');
        assert.equal(sts['spec']['replicas'], 1, 'one writer per log');
        assert.equal(log['data'], '/data');
        const dataMount = (container(sts)['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === '/data') as Obj;
        assert.ok(dataMount !== undefined && dataMount['readOnly'] !== true);
        assert.ok((sts['spec']['volumeClaimTemplates'] as Obj[]).some((v) => v['metadata']['name'] === dataMount['name']), '/data is the volume claim template');
        const key = resolveFile(sts, log['key'] as string);
        assert.equal(key.volume['secret']['secretName'], 'tilelog-log-key');
        assert.equal(key.key, 'log.key');
        assert.equal(key.mount['readOnly'], true, 'the key is mounted read-only');
        const jwks = resolveFile(sts, log['authJwksFile'] as string);
        const jwksCm = find(objs, 'ConfigMap', jwks.volume['configMap']['name'] as string);
        assert.ok(typeof jwksCm['data'][jwks.key] === 'string', `ConfigMap ${jwksCm['metadata']['name']} has ${jwks.key}`);
        assert.ok(Array.isArray((JSON.parse(jwksCm['data'][jwks.key] as string) as { keys: unknown })['keys']), 'a JWKS');

        // Probes: on the named http port, on paths the server serves (the server test below GETs them).
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          const p = container(sts)[probe] as Obj;
          assert.equal(p['httpGet']['port'], 'http', probe);
          assert.ok(['/healthz', '/readyz'].includes(p['httpGet']['path'] as string), `${probe} path`);
        }
        assert.equal(container(sts)['readinessProbe']['httpGet']['path'], '/readyz');
        assert.equal(container(sts)['livenessProbe']['httpGet']['path'], '/healthz');
        const appTs = readFileSync(join(REPO_ROOT, 'server', 'http', 'app.ts'), 'utf8');
        for (const path of ['/healthz', '/readyz', '/metrics']) assert.ok(appTs.includes(`app.get('${path}'`), `server serves ${path}`);

        // Collector: token audience = the log's auth audience; files; host paths; the log's address; the vkey.
        const { config: col } = configOf(objs, ds);
        const tok = resolveFile(ds, col['log']['tokenFile'] as string);
        const src = (tok.volume['projected']['sources'] as Obj[]).find((s) => s['serviceAccountToken'] !== undefined)?.['serviceAccountToken'] as Obj;
        assert.equal(src['path'], tok.key);
        assert.equal(src['audience'], log['authAudience'], 'projected token audience = the log\'s --auth-audience');
        const ns = ds['metadata']['namespace'] as string;
        assert.ok((log['authSubject'] as string[]).includes(`system:serviceaccount:${ns}:${podSpec(ds)['serviceAccountName']}`), 'the collector may write');
        find(objs, 'ServiceAccount', podSpec(ds)['serviceAccountName'] as string);
        const sk = resolveFile(ds, col['signing']['keyFile'] as string);
        assert.equal(sk.volume['secret']['secretName'], 'tilelog-collector-key');
        assert.equal(sk.key, 'key.pem');
        assert.equal(sk.mount['readOnly'], true);
        const spool = resolveFile(ds, `${col['spool']['dir']}/x`);
        assert.equal(spool.volume['hostPath']['path'], col['spool']['dir'], 'spool on the host (survives restarts)');
        assert.notEqual(spool.mount['readOnly'], true);
        for (const p of ['/var/log/containers', '/var/log/pods']) {
          const m = resolveFile(ds, `${p}/x.log`);
          assert.equal(m.volume['hostPath']['path'], p);
          assert.equal(m.mount['readOnly'], true, `${p} read-only`);
        }
        for (const input of col['inputs'] as Obj[]) for (const glob of input['paths'] as string[]) resolveFile(ds, glob);
        const env = (container(ds)['env'] as Obj[]).find((e) => e['name'] === 'NODE_NAME') as Obj;
        assert.equal(env['valueFrom']['fieldRef']['fieldPath'], 'spec.nodeName');
        const client = find(objs, 'Service', 'tilelog');
        const url = new URL(col['log']['url'] as string);
        assert.equal(url.hostname, client['metadata']['name']);
        assert.equal(Number(url.port), ports['http']);
        assert.equal(col['log']['grpc'], `${client['metadata']['name']}:${ports['grpc']}`);
        assert.equal(portOf(col['metrics'] as string), (container(ds)['ports'] as Obj[]).find((p) => p['name'] === 'metrics')?.['containerPort']);

        // Auditor: the log's address, state on a volume, metrics port.
        const { config: aud } = configOf(objs, auditor);
        assert.equal(new URL(aud['logs'][0]['url'] as string).hostname, 'tilelog');
        const state = resolveFile(auditor, `${aud['state']}/x`);
        assert.ok(state.volume['persistentVolumeClaim'] !== undefined, 'auditor state on a PersistentVolumeClaim');
        find(objs, 'PersistentVolumeClaim', state.volume['persistentVolumeClaim']['claimName'] as string);
        assert.equal(portOf(aud['http'] as string), (container(auditor)['ports'] as Obj[]).find((p) => p['name'] === 'metrics')?.['containerPort']);

        // The overlay's vkeys are the log's: same origin (the key's name).
        if (which !== 'base') {
          for (const vkey of [col['log']['vkey'], aud['logs'][0]['vkey']] as string[]) assert.equal(newVerifier(vkey).name, log['origin']);
          // The config is one the auditor and the collector accept as they are.
          const audFile = parseAuditConfig(stringify(aud));
          assert.equal(audFile.logs[0]?.origin, log['origin']);
          assert.equal(buildConfig(expandEnv(col, { NODE_NAME: 'node-1' }) as Obj, {}).log.origin, log['origin']);
          assert.ok((log['publicUrl'] as string).includes(log['origin'] as string), 'publicUrl contains the origin');
        }

        // Security contexts.
        const uid = Number(/^(\d+)/.exec(final.instructions.filter((i) => i.op === 'USER').at(-1)?.args ?? '')?.[1]);
        for (const w of workloads) {
          const name = w['metadata']['name'] as string;
          const pod = podSpec(w)['securityContext'] as Obj;
          assert.equal(pod['seccompProfile']['type'], 'RuntimeDefault', name);
          assert.equal(podSpec(w)['automountServiceAccountToken'], false, `${name}: no API token`);
          for (const c of podSpec(w)['containers'] as Obj[]) {
            const sc = c['securityContext'] as Obj;
            assert.equal(sc['allowPrivilegeEscalation'], false, name);
            assert.equal(sc['readOnlyRootFilesystem'], true, name);
            assert.deepEqual(sc['capabilities']['drop'], ['ALL'], name);
            assert.notEqual(sc['privileged'], true, name);
            assert.ok(c['resources']['requests'] !== undefined && c['resources']['limits']?.['memory'] !== undefined, `${name}: requests and limits`);
            assert.ok((c['volumeMounts'] as Obj[]).some((m) => m['mountPath'] === '/tmp'), `${name}: writable /tmp`);
          }
          if (w !== ds) {
            assert.equal(pod['runAsNonRoot'], true, name);
            assert.equal(pod['runAsUser'], uid, `${name}: the image's user`);
          }
        }

        // Labels everywhere; NetworkPolicies name ports the selected pods have.
        for (const o of objs) {
          const l = (o['metadata']['labels'] ?? {}) as Obj;
          for (const k of ['app.kubernetes.io/name', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version']) {
            assert.ok(typeof l[k] === 'string' && l[k] !== '', `${o['kind']}/${o['metadata']['name']} has label ${k}`);
          }
          assert.equal(l['app.kubernetes.io/version'], pkg.version, `${o['kind']}/${o['metadata']['name']}: version label`);
        }
        for (const w of workloads) {
          const l = w['spec']['template']['metadata']['labels'] as Obj;
          for (const k of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of']) assert.ok(l[k] !== undefined, `${w['metadata']['name']} pods: ${k}`);
          for (const [k, v] of Object.entries(w['spec']['selector']['matchLabels'] as Obj)) assert.equal(l[k], v);
        }
        for (const np of objs.filter((o) => o['kind'] === 'NetworkPolicy')) {
          const sel = np['spec']['podSelector']['matchLabels'] as Obj;
          const target = workloads.find((w) => Object.entries(sel).every(([k, v]) => w['spec']['template']['metadata']['labels'][k] === v));
          assert.ok(target !== undefined, `NetworkPolicy ${np['metadata']['name']} selects a workload`);
          const named = new Set((podSpec(target)['containers'] as Obj[]).flatMap((c) => ((c['ports'] ?? []) as Obj[]).map((p) => p['name'])));
          for (const rule of np['spec']['ingress'] as Obj[]) for (const p of rule['ports'] as Obj[]) assert.ok(named.has(p['port']), `${np['metadata']['name']}: port ${p['port']}`);
        }
        const pdb = find(objs, 'PodDisruptionBudget', 'tilelog');
        for (const [k, v] of Object.entries(pdb['spec']['selector']['matchLabels'] as Obj)) assert.equal(sts['spec']['template']['metadata']['labels'][k], v);

        // ServiceMonitor (overlay): the client Service only, on its http port.
        if (which !== 'base') {
          const sm = find(objs, 'ServiceMonitor', 'tilelog');
          const matching = objs.filter((o) => o['kind'] === 'Service' && Object.entries(sm['spec']['selector']['matchLabels'] as Obj).every(([k, v]) => o['metadata']['labels'][k] === v));
          assert.deepEqual(matching.map((s) => s['metadata']['name']), ['tilelog']);
          assert.equal(sm['spec']['endpoints'][0]['port'], 'http');
          findPrefix(objs, 'ConfigMap', 'tilelog-shipper-configs');
        }
      });
    }

    test('shipper configs and the apiserver kubeconfig address the log Service', (t) => {
      const r = rendered.find((x) => x.name === 'overlays/example');
      if (r === undefined) return t.skip('neither kubectl nor kustomize is installed');
      const svc = find(r.objs, 'Service', 'tilelog');
      const host = `${svc['metadata']['name']}.${svc['metadata']['namespace']}.svc`;
      const cm = find(r.objs, 'ConfigMap', 'tilelog-shipper-configs');
      for (const [file, text] of Object.entries(cm['data'] as Record<string, string>)) {
        assert.ok(text.includes(`${host}:8080`) || (text.includes(host) && /Port\s+8080/.test(text)), `${file} addresses ${host}:8080`);
      }
      const kubeconfig = parse(readFileSync(join(K8S, 'apiserver', 'audit-webhook-kubeconfig.yaml'), 'utf8')) as Obj;
      assert.match(kubeconfig['clusters'][0]['cluster']['server'] as string, /\/v1\/k8s\/audit$/);
    });
  });
});

describe('the server runs with the example overlay\'s configuration', () => {
  after(cleanupAll);

  test('tilelog serve --config <the ConfigMap\'s log.yaml> serves, probes answer, alert metrics exist', async (t) => {
    const objs = kustomize(join(K8S, 'overlays', 'example'));
    const text = objs === undefined
      ? readFileSync(join(K8S, 'overlays', 'example', 'log.yaml'), 'utf8')
      : (findPrefix(objs, 'ConfigMap', 'tilelog-config')['data']['log.yaml'] as string);
    const config = parse(text) as Obj;
    const dir = newDataDir('tilelog-k8s-config-');
    writeFileSync(join(dir, 'jwks.json'), '{"keys":[]}');
    // Addresses to loopback, paths to the temp dir; everything else exactly as deployed.
    const local = { ...config, data: join(dir, 'data'), key: join(dir, 'log.key'), http: '127.0.0.1:0', grpc: '127.0.0.1:0', authJwksFile: join(dir, 'jwks.json') };
    const file = join(dir, 'log.yaml');
    writeFileSync(file, JSON.stringify(local));
    const server = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', file] }, t);
    assert.equal(server.origin, config['origin']);
    const listening = server.logRecords().find((l) => l['msg'] === 'listening') as Obj;
    assert.match(listening['grpc'] as string, /^127\.0\.0\.1:\d+$/, 'gRPC on');
    assert.equal(listening['auth'], true, 'writer authentication on');

    const sts = objs === undefined ? undefined : find(objs, 'StatefulSet', 'tilelog');
    const paths = sts === undefined ? ['/healthz', '/readyz'] : ['startupProbe', 'livenessProbe', 'readinessProbe'].map((p) => container(sts)[p]['httpGet']['path'] as string);
    for (const p of paths) assert.equal((await fetch(`${server.baseUrl}${p}`, { signal: AbortSignal.timeout(10_000) })).status, 200, p);
    const cp = await (await fetch(`${server.baseUrl}/checkpoint`, { signal: AbortSignal.timeout(10_000) })).text();
    assert.ok(cp.startsWith(`${config['origin']}\n0\n`), cp);
    const denied = await fetch(`${server.baseUrl}/v1/entries`, { method: 'POST', body: 'x', headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(denied.status, 401, 'writes need a token');

    // Every log metric the alert rules use is exported (collector/audit/witness metrics belong to those components).
    const metrics = await (await fetch(`${server.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const exported = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
    const rules = readFileSync(join(K8S, 'components', 'monitoring', 'prometheus-rules.yaml'), 'utf8');
    const used = new Set([...rules.matchAll(/\b(tilelog_[a-z0-9_]*[a-z0-9])\b/g)].map((m) => (m[1] as string).replace(/_(bucket|sum|count)$/, '')));
    const own = [...used].filter((m) => !/^tilelog_(collector|audit|witness)_/.test(m));
    assert.ok(own.length >= 8, own.join(' '));
    for (const m of own) assert.ok(exported.has(m), `the server exports ${m}`);
    // The collector's metrics the rules use are those the collector registers; the log's witness metrics are
    // those of its cosigning client.
    const collectorNames = new Set((await new CollectorMetrics().registry.getMetricsAsJSON()).map((x) => x.name));
    for (const m of [...used].filter((x) => x.startsWith('tilelog_collector_'))) assert.ok(collectorNames.has(m), `the collector exports ${m}`);
    const cosigning = readFileSync(join(REPO_ROOT, 'server', 'witnessing', 'cosigning.ts'), 'utf8');
    for (const m of [...used].filter((x) => x.startsWith('tilelog_witness_'))) assert.ok(cosigning.includes(`'${m}'`), `the log's witnessing exports ${m}`);
    await server.stop();
  });
});

describe('the S3 frontends overlay (overlays/s3-frontends: several frontends, docs/scale-out.md)', () => {
  const objs = kustomize(join(K8S, 'overlays', 's3-frontends'));

  test('renders, validates, and runs several frontends that can reach each other', async (t) => {
    if (objs === undefined) return t.skip('neither kubectl nor kustomize is installed');
    const problems: string[] = [];
    for (const o of objs) problems.push(...(await validate(o)));
    assert.deepEqual(problems, []);
    const sts = find(objs, 'StatefulSet', 'tilelog');
    assert.ok((sts['spec']['replicas'] as number) >= 2, 'several frontends');
    assert.ok((find(objs, 'PodDisruptionBudget', 'tilelog')['spec']['minAvailable'] as number) >= 2);
    const env = Object.fromEntries((container(sts)['env'] as Obj[]).map((e) => [e['name'], e]));
    assert.equal(env['POD_IP']?.['valueFrom']?.['fieldRef']?.['fieldPath'], 'status.podIP');
    const http = (container(sts)['ports'] as Obj[]).find((p) => p['name'] === 'http')?.['containerPort'];
    assert.equal(env['TILELOG_ADVERTISE_URL']?.['value'], `http://$(POD_IP):${http}`, 'each pod advertises its own address on the HTTP port');
    assert.deepEqual(env['TILELOG_COORDINATION']?.['valueFrom']?.['secretKeyRef'], { name: 'tilelog-postgres', key: 'url' });
    const { config } = configOf(objs, sts);
    assert.match(config['storage'] as string, /^s3:\/\/[^/]+\/.+/);
    assert.equal(portOf(config['http'] as string), http);
    // Forwarding: some NetworkPolicy admits log pods to log pods on the HTTP port.
    const logLabels = sts['spec']['template']['metadata']['labels'] as Obj;
    const matches = (sel: Obj | undefined) => sel !== undefined && Object.entries((sel['matchLabels'] ?? {}) as Obj).every(([k, v]) => logLabels[k] === v);
    const admits = objs.filter((o) => o['kind'] === 'NetworkPolicy' && matches(o['spec']['podSelector'])).some((np) =>
      ((np['spec']['ingress'] ?? []) as Obj[]).some((rule) => ((rule['from'] ?? []) as Obj[]).some((f) => f['namespaceSelector'] === undefined && matches(f['podSelector'])) && ((rule['ports'] ?? []) as Obj[]).some((p) => p['port'] === 'http')),
    );
    assert.ok(admits, 'a NetworkPolicy lets the frontends forward writes to the leader');
  });

  test('the overlay\'s log.yaml is accepted by tilelog serve (it fails only on the unreachable database)', (t) => {
    if (objs === undefined) return t.skip('neither kubectl nor kustomize is installed');
    const sts = find(objs, 'StatefulSet', 'tilelog');
    const { config } = configOf(objs, sts);
    const dir = newDataDir('tilelog-k8s-s3-');
    writeFileSync(join(dir, 'jwks.json'), '{"keys":[]}');
    const local = { ...config, data: join(dir, 'data'), key: join(dir, 'log.key'), http: '127.0.0.1:0', grpc: '127.0.0.1:0', authJwksFile: join(dir, 'jwks.json'), s3Endpoint: 'http://127.0.0.1:1' };
    writeFileSync(join(dir, 'log.yaml'), stringify(local));
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'tilelog.js'), 'serve', '--config', join(dir, 'log.yaml')], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, TILELOG_ADVERTISE_URL: 'http://10.0.0.5:8080', TILELOG_COORDINATION: 'postgres://tilelog@127.0.0.1:1/tilelog', PGCONNECT_TIMEOUT: '2' },
    });
    assert.notEqual(r.status, 0);
    const out = `${r.stdout}\n${r.stderr}`;
    assert.doesNotMatch(out, /unknown option|invalid|want /i, 'no configuration error');
    assert.match(out, /ECONNREFUSED|connect/i, 'it got as far as connecting to PostgreSQL');
  });
});
