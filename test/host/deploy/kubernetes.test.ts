/**
 * deploy/kubernetes/daemonset.yaml is valid against Kubernetes' published
 * OpenAPI schemas (compiled into the kubernetes-models package), and its
 * parts agree: containerd's proxy plugin dials the socket the container
 * serves, the RuntimeClass names the runtime the config adds, and the pod
 * gets what device-mapper needs (privileged, the host's /dev, IPC and udev,
 * its state on the node's disk).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Namespace, ConfigMap } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1';
import { parse as parseToml } from 'smol-toml';
import { parseAllDocuments } from 'yaml';
import { describe, expect, test } from 'vitest';

const file = path.resolve(import.meta.dirname, '../../../deploy/kubernetes/daemonset.yaml');

interface Validatable {
  validate(): void;
}
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
  'node.k8s.io/v1/RuntimeClass': RuntimeClass,
};

async function documents(): Promise<Array<Record<string, unknown> & { apiVersion: string; kind: string }>> {
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs.map((d) => d.toJS() as Record<string, unknown> & { apiVersion: string; kind: string });
}

function validate(doc: { apiVersion: string; kind: string }): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
}

describe('deploy/kubernetes/daemonset.yaml', () => {
  test("every object is valid against Kubernetes' schemas", async () => {
    const docs = await documents();
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ConfigMap', 'RuntimeClass', 'DaemonSet']);
    for (const doc of docs) validate(doc);
  });

  test('the schemas reject a broken manifest (the check has teeth)', async () => {
    const ds = (await documents()).find((d) => d.kind === 'DaemonSet') as unknown as DaemonSet;
    const broken = structuredClone(ds);
    (broken.spec!.template.spec!.containers[0]!.securityContext as Record<string, unknown>).privileged = 'yes';
    expect(() => validate(broken as never)).toThrow(/privileged must be boolean/);
    const noMountPath = structuredClone(ds);
    delete (noMountPath.spec!.template.spec!.containers[0]!.volumeMounts![0] as Partial<{ mountPath: string }>).mountPath;
    expect(() => validate(noMountPath as never)).toThrow(/mountPath/);
  });

  test('containerd config, RuntimeClass and the container agree; the pod has what device-mapper needs', async () => {
    const docs = await documents();
    const configMap = docs.find((d) => d.kind === 'ConfigMap') as unknown as ConfigMap;
    const runtimeClass = docs.find((d) => d.kind === 'RuntimeClass') as unknown as RuntimeClass;
    const ds = docs.find((d) => d.kind === 'DaemonSet') as unknown as DaemonSet;
    const config = parseToml(configMap.data!['devmapper-snapshotter.toml']!) as {
      proxy_plugins: Record<string, { type: string; address: string }>;
      plugins: Record<string, { containerd: { runtimes: Record<string, { snapshotter: string; runtime_type: string }> } }>;
    };
    const [pluginName, plugin] = Object.entries(config.proxy_plugins)[0]!;
    const pod = ds.spec!.template.spec!;
    const container = pod.containers[0]!;
    const args = container.args!;
    const arg = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args[0]).toBe('serve');
    expect(plugin).toEqual({ type: 'snapshot', address: arg('--socket') });
    const runtime = config.plugins['io.containerd.grpc.v1.cri']!.containerd.runtimes[runtimeClass.handler]!;
    expect(runtime).toEqual({ runtime_type: 'io.containerd.runc.v2', snapshotter: pluginName });

    expect(container.securityContext?.privileged).toBe(true);
    expect(pod.hostIPC).toBe(true);
    const hostPaths = new Map(pod.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
    const mounted = new Map(container.volumeMounts!.map((m) => [m.mountPath, hostPaths.get(m.name)]));
    expect(mounted.get('/dev')).toBe('/dev');
    expect(mounted.get('/run/udev')).toBe('/run/udev');
    // The socket's folder is the host's, where containerd dials it; state and pool on the node's disk.
    expect(mounted.get(path.dirname(arg('--socket')!))).toBe(path.dirname(plugin.address));
    expect(mounted.get('/var/lib/devmapper-snapshotter')).toBe('/var/lib/devmapper-snapshotter');
    expect(arg('--pool-dir')!.startsWith('/var/lib/devmapper-snapshotter/')).toBe(true);
    // The init container installs the config where containerd imports it from.
    const init = pod.initContainers![0]!;
    const initMounts = new Map(init.volumeMounts!.map((m) => [m.name, m.mountPath]));
    expect(hostPaths.get('host-containerd-conf')).toBe('/etc/containerd/conf.d');
    expect(init.command!.join(' ')).toContain(`${initMounts.get('host-containerd-conf')}/devmapper-snapshotter.toml`);
    expect(container.readinessProbe?.httpGet?.path).toBe('/healthz');
  });
});
