using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aperture.Operator.Tests;

/// <summary>
/// A STAND-IN for the central runtime's tenant and API-key routes, used only until the real routes are on
/// main: a Kestrel server on 127.0.0.1:0 implementing exactly the contract the operator codes against
/// (POST/GET /api/v1/tenants, POST/GET /api/v1/apikeys, DELETE /api/v1/apikeys/{key_id}, with the admin token
/// as bearer and the tenant in X-Scope-OrgID), plus GET /api/v1/rbac/permissions answered for an API key, so
/// that a test can show the key in a Secret works. It is not the product: the tests move to a real central
/// runtime (and this file goes) once the runtime serves these routes.
/// </summary>
public sealed class CentralApiStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _adminToken;
    private readonly ConcurrentDictionary<string, JsonObject> _tenants = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StoredKey> _keys = new(StringComparer.Ordinal);
    private int _next;

    private sealed record StoredKey(string KeyId, string Tenant, string Name, string Scope, int RateLimitRps, string? ExpiresAt, string CreatedAt, string Hash, string Prefix)
    {
        public bool Revoked { get; set; }
    }

    private CentralApiStandIn(WebApplication app, string adminToken)
    {
        _app = app;
        _adminToken = adminToken;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>Every request, as "METHOD /path", in the order they came.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<CentralApiStandIn> StartAsync(string adminToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var standIn = new CentralApiStandIn(app, adminToken);
        app.Run(standIn.HandleAsync);
        await app.StartAsync();
        standIn.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return standIn;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? string.Empty;
        Requests.Enqueue($"{request.Method} {path}");
        var bearer = request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..] : null;
        var tenant = request.Headers["X-Scope-OrgID"].ToString() is { Length: > 0 } t ? t : "default";
        if (path == "/api/v1/rbac/permissions" && request.Method == "GET")
        {
            var key = bearer is null ? null : _keys.Values.FirstOrDefault(k => k.Hash == Hash(bearer) && !k.Revoked);
            if (bearer == _adminToken)
            {
                await WriteAsync(context, 200, new JsonObject { ["tenant_id"] = tenant, ["user_id"] = "admin-token", ["role"] = "super-admin", ["level"] = 4 });
            }
            else if (key is null)
            {
                await ErrorAsync(context, 401, "unauthorized", "a valid credential is required");
            }
            else
            {
                await WriteAsync(context, 200, new JsonObject { ["tenant_id"] = key.Tenant, ["user_id"] = key.KeyId, ["scope"] = key.Scope });
            }

            return;
        }

        if (bearer != _adminToken)
        {
            await ErrorAsync(context, 401, "unauthorized", "a valid credential is required");
            return;
        }

        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (request.Method, parts)
        {
            case ("POST", ["api", "v1", "tenants"]):
                var body = (await JsonNode.ParseAsync(request.Body))!.AsObject();
                var id = body["tenant_id"]?.GetValue<string>() ?? string.Empty;
                var created = Now();
                var stored = new JsonObject
                {
                    ["tenant_id"] = id,
                    ["name"] = body["name"]?.GetValue<string>(),
                    ["plan"] = body["plan"]?.GetValue<string>(),
                    ["created_at"] = created,
                    ["events_this_month"] = 0,
                };
                if (!_tenants.TryAdd(id, stored))
                {
                    await ErrorAsync(context, 409, "invalid_request", $"tenant {id} exists", "tenant_id");
                    return;
                }

                await WriteAsync(context, 201, new JsonObject { ["tenant_id"] = id, ["created_at"] = created });
                return;
            case ("GET", ["api", "v1", "tenants"]):
                await WriteAsync(context, 200, new JsonObject { ["tenants"] = new JsonArray([.. _tenants.Values.Select(v => (JsonNode)v.DeepClone())]) });
                return;
            case ("GET", ["api", "v1", "tenants", var one]):
                if (_tenants.TryGetValue(one, out var found))
                {
                    await WriteAsync(context, 200, found.DeepClone().AsObject());
                }
                else
                {
                    await ErrorAsync(context, 404, "not_found", $"no tenant {one}");
                }

                return;
            case ("POST", ["api", "v1", "apikeys"]):
                var keyBody = (await JsonNode.ParseAsync(request.Body))!.AsObject();
                var scope = keyBody["scope"]?.GetValue<string>();
                if (scope is not ("ingestion" or "read" or "admin"))
                {
                    await ErrorAsync(context, 400, "invalid_request", "scope must be ingestion, read or admin", "scope");
                    return;
                }

                var secret = "apk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
                var keyId = string.Create(CultureInfo.InvariantCulture, $"key_{Interlocked.Increment(ref _next)}");
                var key = new StoredKey(keyId, tenant, keyBody["name"]?.GetValue<string>() ?? string.Empty, scope, keyBody["rate_limit_rps"]?.GetValue<int>() ?? 100,
                    keyBody["expires_at"]?.GetValue<string>(), Now(), Hash(secret), secret[..8]);
                _keys[keyId] = key;
                await WriteAsync(context, 201, new JsonObject
                {
                    ["key_id"] = keyId,
                    ["api_key"] = secret,
                    ["scope"] = scope,
                    ["created_at"] = key.CreatedAt,
                    ["expires_at"] = key.ExpiresAt,
                });
                return;
            case ("GET", ["api", "v1", "apikeys"]):
                await WriteAsync(context, 200, new JsonObject
                {
                    ["api_keys"] = new JsonArray([.. _keys.Values.Where(k => k.Tenant == tenant).OrderBy(k => k.KeyId, StringComparer.Ordinal).Select(k => (JsonNode)new JsonObject
                    {
                        ["key_id"] = k.KeyId,
                        ["name"] = k.Name,
                        ["scope"] = k.Scope,
                        ["prefix"] = k.Prefix,
                        ["rate_limit_rps"] = k.RateLimitRps,
                        ["created_at"] = k.CreatedAt,
                        ["expires_at"] = k.ExpiresAt,
                        ["revoked"] = k.Revoked,
                    })]),
                });
                return;
            case ("DELETE", ["api", "v1", "apikeys", var revoke]):
                if (_keys.TryGetValue(revoke, out var revoked) && revoked.Tenant == tenant)
                {
                    revoked.Revoked = true;
                    await WriteAsync(context, 200, new JsonObject { ["key_id"] = revoke, ["revoked"] = true });
                }
                else
                {
                    await ErrorAsync(context, 404, "not_found", $"no key {revoke}");
                }

                return;
            default:
                await ErrorAsync(context, 404, "not_found", $"{request.Method} {path}");
                return;
        }
    }

    private static string Now() => TimeProvider.System.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));

    private static Task ErrorAsync(HttpContext context, int code, string error, string message, string? field = null) =>
        WriteAsync(context, code, new JsonObject
        {
            ["error"] = error,
            ["message"] = message,
            ["details"] = field is null ? new JsonObject() : new JsonObject { ["field"] = field },
        });

    private static async Task WriteAsync(HttpContext context, int code, JsonObject body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(JsonSerializerOptions.Default), context.RequestAborted);
    }
}
