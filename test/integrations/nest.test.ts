// A real NestJS 11 app whose CacheModule keeps its entries in tiercache through the Keyv adapter. Decorators are
// applied as plain function calls: vitest's esbuild emits no decorator metadata, and the repo compiles with TS 5
// standard decorators, which Nest does not take. Every constructor parameter names its token (Inject), so Nest
// needs no `design:paramtypes`.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller, Get, Inject, Injectable, Module, Param, Post, UseInterceptors, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CACHE_MANAGER, CacheInterceptor, CacheModule, CacheTTL } from '@nestjs/cache-manager';
import type { Cache as CacheManager } from 'cache-manager';
import Keyv from 'keyv';
import { Cache } from '../../src/cache.js';
import { TiercacheKeyv } from '../../src/integrations/keyv.js';

const calls = { report: 0, short: 0 };

class ReportService {
  constructor(readonly manager: CacheManager) {}
  async forget(path: string): Promise<void> {
    await this.manager.del(path);
  }
}
Injectable()(ReportService);
Inject(CACHE_MANAGER)(ReportService, undefined, 0);

class ReportController {
  constructor(readonly service: ReportService) {}
  report(id: string) {
    calls.report++;
    return { id, run: calls.report };
  }
  short() {
    calls.short++;
    return { run: calls.short };
  }
  async forget(id: string) {
    await this.service.forget(`/reports/${id}`);
    return { ok: true };
  }
}
function decorateMethod(name: keyof ReportController, ...decorators: MethodDecorator[]): void {
  const descriptor = Object.getOwnPropertyDescriptor(ReportController.prototype, name);
  if (descriptor === undefined) throw new Error(name);
  for (const decorate of decorators) decorate(ReportController.prototype, name, descriptor);
}
decorateMethod('report', Get(':id'));
Param('id')(ReportController.prototype, 'report', 0);
decorateMethod('short', Get('short/ttl'), CacheTTL(1_000));
decorateMethod('forget', Post(':id/forget'));
Param('id')(ReportController.prototype, 'forget', 0);
Controller('reports')(ReportController);
UseInterceptors(CacheInterceptor)(ReportController);
Inject(ReportService)(ReportController, undefined, 0);

let app: INestApplication | undefined;
let cache: Cache | undefined;
afterEach(async () => {
  await app?.close();
  await cache?.close();
});

describe('NestJS CacheModule over tiercache', () => {
  it('serves the second call from tiercache, honours @CacheTTL and a CACHE_MANAGER del', async () => {
    cache = new Cache({});
    const store = new Keyv({ store: new TiercacheKeyv(cache.namespace('nest')) });
    class AppModule {}
    // Nest's types see Keyv's CommonJS declaration, this file its ESM one: the same class, two type identities.
    const stores = [store] as unknown as NonNullable<NonNullable<Parameters<typeof CacheModule.register>[0]>['stores']>;
    Module({ imports: [CacheModule.register({ stores, ttl: 60_000 })], controllers: [ReportController], providers: [ReportService] })(AppModule);
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const server: { address(): AddressInfo } = app.getHttpServer();
    const { port } = server.address();
    const get = async (path: string): Promise<unknown> => (await fetch(`http://127.0.0.1:${port}${path}`)).json();

    expect(await get('/reports/7')).toStrictEqual({ id: '7', run: 1 });
    expect(await get('/reports/7')).toStrictEqual({ id: '7', run: 1 });
    expect(calls.report).toBe(1);
    // The entry lives in tiercache, under the Keyv namespace the adapter was given.
    expect(await cache.namespace('nest').has('keyv:/reports/7')).toBe(true);

    await get('/reports/short/ttl');
    const info = await cache.namespace('nest').inspect('keyv:/reports/short/ttl');
    expect(info?.ttlRemaining).toBeLessThanOrEqual(1_000);

    await fetch(`http://127.0.0.1:${port}/reports/7/forget`, { method: 'POST' });
    expect(await get('/reports/7')).toStrictEqual({ id: '7', run: 2 });
  });
});
