using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Aperture.Runtime.Access;
using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Platform;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Aperture.Runtime.Tests.Access;

public sealed class TokenValidationTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 4, 10, 12, 0, 0, TimeSpan.Zero);

    private readonly TemporaryDirectory _keyDirectory = new("aperture-keys");
    private readonly ManualTime _time = new(Start);
    private readonly List<IDisposable> _disposables = [];

    private static readonly string[] ProviderGroups = ["staff", "viewer", "editor"];
    private static readonly string[] ProviderAlgorithms = ["RS256"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static IHttpClientFactory HttpClients { get; } =
        new ServiceCollection().AddHttpClient().BuildServiceProvider().GetRequiredService<IHttpClientFactory>();

    public void Dispose()
    {
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }

        _keyDirectory.Dispose();
    }

    [Fact]
    public async Task A_valid_token_becomes_a_principal_with_its_tenant_subject_and_role()
    {
        var (keys, validator) = Central();
        var token = Issuer(keys).Issue("acme-corp", "alice@acme.com", Role.Editor, TimeSpan.FromHours(1));

        var outcome = await validator.ValidateAsync(token, Cancel);

        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal("acme-corp", outcome.Principal.Tenant);
        Assert.Equal("alice@acme.com", outcome.Principal.Subject);
        Assert.Equal(Role.Editor, outcome.Principal.Role);
        Assert.Equal(CredentialKind.Jwt, outcome.Principal.Credential);
        Assert.True(outcome.Principal.Has(Permission.Write));
        Assert.False(outcome.Principal.Has(Permission.ManageKeys));
    }

    [Fact]
    public void An_issued_token_carries_the_spec_claims_and_the_active_kid()
    {
        var (keys, _) = Central();
        var token = new JsonWebToken(Issuer(keys).Issue("acme-corp", "ci@acme.com", Role.SuperAdmin, TimeSpan.FromMinutes(30)));

        Assert.Equal("ES256", token.Alg);
        Assert.Equal(keys.Active.KeyId, token.Kid);
        Assert.Equal("aperture", token.Issuer);
        Assert.Equal(["aperture"], token.Audiences);
        Assert.Equal("ci@acme.com", token.Subject);
        Assert.Equal("acme-corp", token.GetPayloadValue<string>("tenant"));
        Assert.Equal("super-admin", token.GetPayloadValue<string>("role"));
        Assert.Equal(Start.UtcDateTime, token.IssuedAt);
        Assert.Equal(Start.UtcDateTime, token.ValidFrom);
        Assert.Equal(Start.UtcDateTime.AddMinutes(30), token.ValidTo);
        Assert.False(string.IsNullOrEmpty(token.Id));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-60)]
    [InlineData(31 * 24 * 3600)]
    public void A_lifetime_not_above_zero_or_over_the_maximum_is_refused_on_issue(int seconds)
    {
        var (keys, _) = Central();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromSeconds(seconds)));

        Assert.Equal("ttl", error.ParamName);
        Assert.Contains("Aperture:Tokens:MaxTtl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_token_is_refused()
    {
        var (keys, validator) = Central();
        var token = Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1));
        _time.Advance(TimeSpan.FromHours(2));

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "expired");
    }

    [Fact]
    public async Task A_token_not_valid_yet_is_refused()
    {
        var (keys, validator) = Central();
        var later = new ManualTime(Start + TimeSpan.FromMinutes(10));
        var token = new RuntimeTokenIssuer(keys, Options.Create(TokenOptionsWith()), later).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1));

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "not valid yet");
    }

    [Fact]
    public async Task Expiry_within_the_clock_skew_is_accepted_and_beyond_it_refused()
    {
        var (keys, validator) = Central();
        var token = Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromMinutes(10));

        _time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(59));
        Assert.True((await validator.ValidateAsync(token, Cancel)).Succeeded);

        _time.Advance(TimeSpan.FromSeconds(2));
        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "expired");
    }

    [Fact]
    public async Task A_not_before_time_within_the_clock_skew_is_accepted()
    {
        var (keys, validator) = Central();
        var token = new RuntimeTokenIssuer(keys, Options.Create(TokenOptionsWith()), new ManualTime(Start + TimeSpan.FromSeconds(50)))
            .Issue("acme", "alice", Role.Viewer, TimeSpan.FromMinutes(10));

        Assert.True((await validator.ValidateAsync(token, Cancel)).Succeeded);
    }

    [Fact]
    public async Task A_token_of_another_issuer_is_refused()
    {
        var (keys, validator) = Central();
        var token = new RuntimeTokenIssuer(keys, Options.Create(TokenOptionsWith(o => o.Issuer = "someone-else")), _time)
            .Issue("acme", "alice", Role.Admin, TimeSpan.FromHours(1));

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "issuer");
    }

    [Fact]
    public async Task A_token_for_another_audience_is_refused()
    {
        var (keys, validator) = Central();
        var token = new RuntimeTokenIssuer(keys, Options.Create(TokenOptionsWith(o => o.Audience = "grafana")), _time)
            .Issue("acme", "alice", Role.Admin, TimeSpan.FromHours(1));

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "audience");
    }

    [Fact]
    public async Task An_unsigned_token_with_alg_none_is_refused()
    {
        var (keys, validator) = Central();
        var valid = Issuer(keys).Issue("acme", "mallory", Role.SuperAdmin, TimeSpan.FromHours(1));
        var payload = valid.Split('.')[1];

        foreach (var alg in (string[])["none", "None", "NONE"])
        {
            var header = Base64UrlEncoder.Encode($$"""{"alg":"{{alg}}","typ":"JWT","kid":"{{keys.Active.KeyId}}"}""");
            var token = $"{header}.{payload}.";
            AssertRefused(await validator.ValidateAsync(token, Cancel), token, "not signed");
        }
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("spki")]
    [InlineData("jwks")]
    [InlineData("point")]
    public async Task An_hmac_token_keyed_with_the_public_key_is_refused(string form)
    {
        var (keys, validator) = Central();
        var payload = Issuer(keys).Issue("acme", "mallory", Role.SuperAdmin, TimeSpan.FromHours(1)).Split('.')[1];
        var ecdsa = keys.Active.SecurityKey.ECDsa;
        var point = ecdsa.ExportParameters(false).Q;
        var secret = form switch
        {
            "pem" => Encoding.ASCII.GetBytes(ecdsa.ExportSubjectPublicKeyInfoPem()),
            "spki" => ecdsa.ExportSubjectPublicKeyInfo(),
            "jwks" => Encoding.UTF8.GetBytes(keys.Jwks()),
            _ => [0x04, .. point.X!, .. point.Y!],
        };
        var header = Base64UrlEncoder.Encode($$"""{"alg":"HS256","typ":"JWT","kid":"{{keys.Active.KeyId}}"}""");
        var signature = Base64UrlEncoder.Encode(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes($"{header}.{payload}")));
        var token = $"{header}.{payload}.{signature}";

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "algorithm");
    }

    [Fact]
    public async Task A_token_signed_by_a_key_of_unknown_kid_is_refused()
    {
        var (_, validator) = Central();
        var stranger = new RuntimeSigningKeys(Options.Create(new TokenOptions()), _time, NullLogger<RuntimeSigningKeys>.Instance);
        var token = Issuer(stranger).Issue("acme", "mallory", Role.SuperAdmin, TimeSpan.FromHours(1));

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "kid");
    }

    [Fact]
    public async Task A_token_signed_by_another_key_under_a_known_kid_is_refused()
    {
        var (keys, validator) = Central();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var token = Sign(new ECDsaSecurityKey(other) { KeyId = keys.Active.KeyId }, Claims());

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "signature");
    }

    [Fact]
    public async Task A_tampered_payload_is_refused()
    {
        var (keys, validator) = Central();
        var parts = Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1)).Split('.');
        var claims = JsonNode.Parse(Base64UrlEncoder.Decode(parts[1]))!;
        claims["role"] = "super-admin";
        var token = $"{parts[0]}.{Base64UrlEncoder.Encode(claims.ToJsonString())}.{parts[2]}";

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "signature");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("not-a-jwt-at-all")]
    [InlineData("a.b.c")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.!!!!notbase64!!!!.c2lnbmF0dXJl")]
    [InlineData("eyJub3QiOiJjbG9zZWQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")]
    [InlineData("e30.e30.e30.e30.e30")]
    public async Task Garbage_is_refused(string token)
    {
        var (_, validator) = Central();

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "");
    }

    [Fact]
    public async Task A_token_longer_than_the_limit_is_refused_unparsed()
    {
        var (_, validator) = Central();
        var token = new string('a', TokenValidator.MaxTokenLength + 1);

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "longer");
    }

    [Fact]
    public async Task A_token_without_a_tenant_claim_is_refused()
    {
        var (keys, validator) = Central();
        var claims = Claims();
        claims.Remove("tenant");
        var token = Sign(keys.Active.SecurityKey, claims);

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "tenant");
    }

    [Theory]
    [InlineData("owner")]
    [InlineData("Admin")]
    [InlineData("")]
    public async Task A_token_with_an_unknown_role_is_refused(string role)
    {
        var (keys, validator) = Central();
        var claims = Claims();
        claims["role"] = role;
        var token = Sign(keys.Active.SecurityKey, claims);

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, "role");
    }

    [Theory]
    [InlineData("sub")]
    [InlineData("role")]
    [InlineData("nbf")]
    [InlineData("exp")]
    public async Task A_runtime_token_missing_a_required_claim_is_refused(string claim)
    {
        var (keys, validator) = Central();
        var claims = Claims();
        claims.Remove(claim);
        var token = Sign(keys.Active.SecurityKey, claims);

        AssertRefused(await validator.ValidateAsync(token, Cancel), token, claim);
    }

    [Fact]
    public async Task A_rotated_key_set_validates_tokens_of_the_old_kid_and_issues_with_the_new_one()
    {
        var (keys, validator) = Central();
        var oldKid = keys.Active.KeyId;
        var oldToken = Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1));

        _time.Advance(TimeSpan.FromSeconds(1));
        var (path, newKid) = RuntimeSigningKeys.CreateKeyFile(_keyDirectory.Path, _time);
        keys.Reload();
        var newToken = Issuer(keys).Issue("acme", "bob", Role.Admin, TimeSpan.FromHours(1));

        Assert.NotEqual(oldKid, newKid);
        Assert.Equal(newKid, keys.Active.KeyId);
        Assert.Equal(newKid, new JsonWebToken(newToken).Kid);
        Assert.Equal([newKid, oldKid], keys.Keys.Select(k => k.KeyId));
        Assert.True((await validator.ValidateAsync(oldToken, Cancel)).Succeeded);
        Assert.True((await validator.ValidateAsync(newToken, Cancel)).Succeeded);
        var published = JsonNode.Parse(keys.Jwks())!["keys"]!.AsArray();
        Assert.Equal([newKid, oldKid], published.Select(k => k!["kid"]!.GetValue<string>()));
        Assert.All(published, k =>
        {
            Assert.Equal("EC", k!["kty"]!.GetValue<string>());
            Assert.Equal("P-256", k["crv"]!.GetValue<string>());
            Assert.Equal("ES256", k["alg"]!.GetValue<string>());
            Assert.Equal("sig", k["use"]!.GetValue<string>());
            Assert.Null(k["d"]);
        });
        Assert.EndsWith(".pem", path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_added_to_the_folder_becomes_active_within_the_rescan_interval()
    {
        var (keys, validator) = Central();
        var oldKid = keys.Active.KeyId;
        _time.Advance(TimeSpan.FromSeconds(1));
        var (_, newKid) = RuntimeSigningKeys.CreateKeyFile(_keyDirectory.Path, _time);

        Assert.Equal(oldKid, keys.Active.KeyId);
        _time.Advance(RuntimeSigningKeys.RescanInterval);
        Assert.Equal(newKid, keys.Active.KeyId);
        Assert.True((await validator.ValidateAsync(Issuer(keys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1)), Cancel)).Succeeded);
    }

    [Fact]
    public void An_empty_key_folder_gets_its_first_key_and_keys_are_written_owner_only()
    {
        var directory = Path.Combine(_keyDirectory.Path, "fresh");
        var keys = new RuntimeSigningKeys(Options.Create(TokenOptionsWith(o => o.KeyDirectory = directory)), _time, NullLogger<RuntimeSigningKeys>.Instance);

        var kid = keys.Active.KeyId;

        var file = Assert.Single(RuntimeSigningKeys.KeyFiles(directory));
        Assert.Equal(kid, new RuntimeSigningKeys(Options.Create(TokenOptionsWith(o => o.KeyDirectory = directory)), _time, NullLogger<RuntimeSigningKeys>.Instance).Active.KeyId);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    public void A_key_file_that_is_not_a_p256_private_key_stops_the_load_naming_the_file_and_not_its_content()
    {
        using var rsa = RSA.Create(2048);
        var pem = rsa.ExportPkcs8PrivateKeyPem();
        File.WriteAllText(Path.Combine(_keyDirectory.Path, "20990101T000000000Z-00.pem"), pem);
        var keys = new RuntimeSigningKeys(Options.Create(TokenOptionsWith()), _time, NullLogger<RuntimeSigningKeys>.Instance);

        var error = Assert.Throws<InvalidDataException>(keys.Reload);

        Assert.Contains("20990101T000000000Z-00.pem", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY-----", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(pem.Split('\n')[1], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_site_validates_a_central_token_by_the_central_jwks_and_refetches_it_for_a_rotated_key()
    {
        var (centralKeys, _) = Central();
        await using var central = await JwksServer.StartAsync(centralKeys);
        using var site = Validator(TokenOptionsWith(o =>
        {
            o.KeyDirectory = null;
            o.JwksUrl = central.JwksUrl;
        }));
        var first = Issuer(centralKeys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(2));

        Assert.True((await site.ValidateAsync(first, Cancel)).Succeeded);
        Assert.True((await site.ValidateAsync(first, Cancel)).Succeeded);
        Assert.Equal(1, central.Requests);

        _time.Advance(TimeSpan.FromSeconds(1));
        RuntimeSigningKeys.CreateKeyFile(_keyDirectory.Path, _time);
        centralKeys.Reload();
        var rotated = Issuer(centralKeys).Issue("acme", "bob", Role.Admin, TimeSpan.FromHours(1));

        // An unknown kid fetches the key set again, but not twice within 30 s.
        AssertRefused(await site.ValidateAsync(rotated, Cancel), rotated, "kid");
        Assert.Equal(1, central.Requests);

        _time.Advance(TokenValidator.MinimumRefetchInterval);
        var outcome = await site.ValidateAsync(rotated, Cancel);
        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal("bob", outcome.Principal.Subject);
        Assert.Equal(2, central.Requests);
        Assert.True((await site.ValidateAsync(first, Cancel)).Succeeded);

        // A kid nobody has costs no fetch while the set is fresh.
        var stranger = new RuntimeSigningKeys(Options.Create(new TokenOptions()), _time, NullLogger<RuntimeSigningKeys>.Instance);
        var forged = Issuer(stranger).Issue("acme", "mallory", Role.SuperAdmin, TimeSpan.FromHours(1));
        AssertRefused(await site.ValidateAsync(forged, Cancel), forged, "kid");
        AssertRefused(await site.ValidateAsync(forged, Cancel), forged, "kid");
        Assert.Equal(2, central.Requests);
    }

    [Fact]
    public async Task A_site_whose_central_jwks_cannot_be_reached_refuses_saying_so()
    {
        var (centralKeys, _) = Central();
        using var site = Validator(TokenOptionsWith(o =>
        {
            o.KeyDirectory = null;
            o.JwksUrl = $"http://127.0.0.1:{FreePort.Next()}/.well-known/jwks.json";
            o.JwksTimeout = TimeSpan.FromSeconds(2);
        }));
        var token = Issuer(centralKeys).Issue("acme", "alice", Role.Viewer, TimeSpan.FromHours(1));

        AssertRefused(await site.ValidateAsync(token, Cancel), token, "could not be fetched");
    }

    [Fact]
    public async Task An_openid_connect_providers_token_is_checked_by_its_discovery_document_with_the_configured_claim_names()
    {
        var (keys, _) = Central();
        await using var provider = await OidcProvider.StartAsync();
        // The provider's tokens are made on the real clock, so the validator reads that one.
        using var validator = Validator(TokenOptionsWith(o =>
        {
            o.Oidc = new TokenOidcOptions { Authority = provider.Issuer, Audience = "aperture-web", RequireHttpsMetadata = false };
            o.TenantClaim = "org";
            o.RoleClaim = "groups";
            o.SubjectClaim = "email";
        }), keys, TimeProvider.System);
        var now = TimeProvider.System.GetUtcNow();
        Dictionary<string, object> Claims(string audience) => new(StringComparer.Ordinal)
        {
            ["iss"] = provider.Issuer,
            ["aud"] = audience,
            ["sub"] = "248289761001",
            ["email"] = "carol@acme.com",
            ["org"] = "acme",
            ["groups"] = ProviderGroups,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = now.AddMinutes(10).ToUnixTimeSeconds(),
        };
        var token = provider.Issue(Claims("aperture-web"));
        var wrongAudience = provider.Issue(Claims("someone-else"));

        var outcome = await validator.ValidateAsync(token, Cancel);

        // No nbf: a provider's iat stands for it. Of the groups, the highest role known counts.
        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal(("acme", "carol@acme.com", Role.Editor), (outcome.Principal.Tenant, outcome.Principal.Subject, outcome.Principal.Role));
        AssertRefused(await validator.ValidateAsync(wrongAudience, Cancel), wrongAudience, "audience");
    }

    [Fact]
    public async Task The_registered_services_issue_and_validate_from_the_configuration()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aperture:Tokens:KeyDirectory"] = _keyDirectory.Path,
            ["Aperture:Tokens:MaxTtl"] = "2.00:00:00",
        });
        builder.Services.AddSingleton(TimeProvider.System);
        var options = builder.AddRuntimeTokens();
        await using var app = builder.Build();

        var token = app.Services.GetRequiredService<RuntimeTokenIssuer>().Issue("acme", "alice", Role.Viewer, TimeSpan.FromDays(1));
        var outcome = await app.Services.GetRequiredService<TokenValidator>().ValidateAsync(token, Cancel);

        Assert.Equal(TimeSpan.FromDays(2), options.MaxTtl);
        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Same(app.Services.GetRequiredService<RuntimeSigningKeys>(), app.Services.GetRequiredService<RuntimeSigningKeys>());
    }

    [Fact]
    public void Settings_out_of_range_are_refused_naming_the_key()
    {
        var validator = new SectionAnnotationsValidator<TokenOptions>(TokenOptions.Section);

        var skew = string.Join("\n", validator.Validate(null, TokenOptionsWith(o => o.ClockSkew = TimeSpan.FromMinutes(2))).Failures ?? []);
        var jwks = string.Join("\n", validator.Validate(null, TokenOptionsWith(o => o.JwksUrl = "central:8080")).Failures ?? []);
        var oidc = string.Join("\n", validator.Validate(null, TokenOptionsWith(o => o.Oidc.Authority = "https://login.example.com")).Failures ?? []);

        Assert.Contains("Aperture:Tokens:ClockSkew", skew, StringComparison.Ordinal);
        Assert.Contains("Aperture:Tokens:JwksUrl", jwks, StringComparison.Ordinal);
        Assert.Contains("Aperture:Tokens:Oidc:Audience", oidc, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new TokenOptions()).Succeeded);
    }

    [Fact]
    public async Task The_token_issue_command_prints_a_token_that_validates()
    {
        var setting = $"--Aperture:Tokens:KeyDirectory={_keyDirectory.Path}";
        var (initOut, initError) = (new StringWriter(), new StringWriter());
        Assert.Equal(0, await TokenCommand.RunAsync(["token", "init-keys", setting], initOut, initError));
        Assert.Contains("created signing key", initOut.ToString(), StringComparison.Ordinal);

        var (output, error) = (new StringWriter(), new StringWriter());
        var exit = await TokenCommand.RunAsync(
            ["token", "issue", "--tenant", "acme-corp", "--subject", "ci@acme.com", "--role", "admin", "--ttl", "1h", setting], output, error);

        Assert.True(exit == 0, error.ToString());
        var token = output.ToString().Trim();
        var keys = new RuntimeSigningKeys(Options.Create(TokenOptionsWith()), TimeProvider.System, NullLogger<RuntimeSigningKeys>.Instance);
        using var validator = Validator(TokenOptionsWith(), keys, TimeProvider.System);
        var outcome = await validator.ValidateAsync(token, Cancel);
        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal(("acme-corp", "ci@acme.com", Role.Admin), (outcome.Principal.Tenant, outcome.Principal.Subject, outcome.Principal.Role));
        var lifetime = new JsonWebToken(token).ValidTo - new JsonWebToken(token).ValidFrom;
        Assert.Equal(TimeSpan.FromHours(1), lifetime);
    }

    [Theory]
    [InlineData("--role", "owner", "--role")]
    [InlineData("--ttl", "1w", "--ttl")]
    [InlineData("--ttl", "31d", "--ttl")]
    [InlineData("--ttl", "0m", "--ttl")]
    [InlineData("--tenant", "acme corp", "--tenant")]
    public async Task The_token_issue_command_answers_a_bad_argument_with_exit_2_naming_it(string name, string value, string named)
    {
        RuntimeSigningKeys.CreateKeyFile(_keyDirectory.Path, _time);
        var arguments = new Dictionary<string, string> { ["--tenant"] = "acme", ["--subject"] = "alice", ["--role"] = "viewer", ["--ttl"] = "1h" };
        arguments[name] = value;
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await TokenCommand.RunAsync(
            ["token", "issue", .. arguments.SelectMany(a => new[] { a.Key, a.Value }), $"--Aperture:Tokens:KeyDirectory={_keyDirectory.Path}"], output, error);

        Assert.Equal(2, exit);
        Assert.Equal(string.Empty, output.ToString());
        var message = error.ToString().TrimEnd();
        Assert.Contains(named, message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', message);
        Assert.DoesNotContain("   at ", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_issue_command_refuses_without_a_key_folder_or_with_an_empty_one()
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var arguments = (string[])["token", "issue", "--tenant", "acme", "--subject", "alice", "--role", "viewer"];

        Assert.Equal(2, await TokenCommand.RunAsync(arguments, output, error));
        Assert.Contains("Aperture:Tokens:KeyDirectory", error.ToString(), StringComparison.Ordinal);

        var empty = new StringWriter();
        Assert.Equal(2, await TokenCommand.RunAsync([.. arguments, $"--Aperture:Tokens:KeyDirectory={Path.Combine(_keyDirectory.Path, "none")}"], output, empty));
        Assert.Contains("init-keys", empty.ToString(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, output.ToString());
        Assert.False(Directory.Exists(Path.Combine(_keyDirectory.Path, "none")));
    }

    [Fact]
    public async Task The_init_keys_command_makes_a_key_once_and_a_new_active_one_with_rotate()
    {
        var setting = $"--Aperture:Tokens:KeyDirectory={_keyDirectory.Path}";
        Assert.Equal(0, await TokenCommand.RunAsync(["token", "init-keys", setting], new StringWriter(), new StringWriter()));
        var first = RuntimeSigningKeys.KeyFiles(_keyDirectory.Path).Single();
        var again = new StringWriter();
        Assert.Equal(0, await TokenCommand.RunAsync(["token", "init-keys", setting], again, new StringWriter()));
        Assert.Contains("--rotate", again.ToString(), StringComparison.Ordinal);
        Assert.Single(RuntimeSigningKeys.KeyFiles(_keyDirectory.Path));

        Assert.Equal(0, await TokenCommand.RunAsync(["token", "init-keys", "--rotate", setting], new StringWriter(), new StringWriter()));

        var files = RuntimeSigningKeys.KeyFiles(_keyDirectory.Path);
        Assert.Equal(2, files.Count);
        Assert.Equal(first, files[0]);
    }

    [Theory]
    [InlineData("45s", 45)]
    [InlineData("30m", 30 * 60)]
    [InlineData("1h", 3600)]
    [InlineData("7d", 7 * 86400)]
    [InlineData("01:30:00", 5400)]
    [InlineData("1.00:00:00", 86400)]
    public void A_lifetime_is_read_with_a_unit_or_as_a_timespan(string text, int seconds)
    {
        Assert.True(TokenCommand.TryParseTtl(text, out var ttl));
        Assert.Equal(TimeSpan.FromSeconds(seconds), ttl);
    }

    [Theory]
    [InlineData("1w")]
    [InlineData("-1h")]
    [InlineData("h")]
    [InlineData("")]
    [InlineData("soon")]
    public void A_lifetime_that_is_not_one_is_not_read(string text) => Assert.False(TokenCommand.TryParseTtl(text, out _));

    private static void AssertRefused(TokenValidationOutcome outcome, string token, string reasonContains)
    {
        Assert.False(outcome.Succeeded);
        Assert.Null(outcome.Principal);
        Assert.False(string.IsNullOrWhiteSpace(outcome.Failure));
        Assert.Contains(reasonContains, outcome.Failure, StringComparison.Ordinal);
        foreach (var part in token.Split('.').Append(token).Where(p => p.Trim().Length >= 8))
        {
            Assert.DoesNotContain(part, outcome.Failure, StringComparison.Ordinal);
        }
    }

    private TokenOptions TokenOptionsWith(Action<TokenOptions>? change = null)
    {
        var options = new TokenOptions { KeyDirectory = _keyDirectory.Path };
        change?.Invoke(options);
        return options;
    }

    private (RuntimeSigningKeys Keys, TokenValidator Validator) Central()
    {
        var keys = new RuntimeSigningKeys(Options.Create(TokenOptionsWith()), _time, NullLogger<RuntimeSigningKeys>.Instance);
        keys.Reload();
        return (keys, Validator(TokenOptionsWith(), keys));
    }

    private TokenValidator Validator(TokenOptions options, RuntimeSigningKeys? keys = null, TimeProvider? time = null)
    {
        keys ??= new RuntimeSigningKeys(Options.Create(options), _time, NullLogger<RuntimeSigningKeys>.Instance);
        var validator = new TokenValidator(Options.Create(options), keys, time ?? _time, HttpClients, NullLogger<TokenValidator>.Instance);
        _disposables.Add(validator);
        return validator;
    }

    private RuntimeTokenIssuer Issuer(RuntimeSigningKeys keys) => new(keys, Options.Create(TokenOptionsWith()), _time);

    /// <summary>The claims of a good runtime token, to take one away from.</summary>
    private static Dictionary<string, object> Claims() => new(StringComparer.Ordinal)
    {
        ["iss"] = "aperture",
        ["aud"] = "aperture",
        ["sub"] = "alice",
        ["tenant"] = "acme",
        ["role"] = "viewer",
        ["iat"] = Start.ToUnixTimeSeconds(),
        ["nbf"] = Start.ToUnixTimeSeconds(),
        ["exp"] = Start.AddHours(1).ToUnixTimeSeconds(),
    };

    private static string Sign(SecurityKey key, Dictionary<string, object> claims) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            SigningCredentials = new SigningCredentials(key, key is RsaSecurityKey ? SecurityAlgorithms.RsaSha256 : SecurityAlgorithms.EcdsaSha256),
        });

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    private static string AddressOf(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>The central runtime's key route on a real Kestrel server on loopback, counting its requests.</summary>
    private sealed class JwksServer : IAsyncDisposable
    {
        private WebApplication _app = null!;
        private int _requests;

        public string JwksUrl { get; private set; } = string.Empty;

        public int Requests => Volatile.Read(ref _requests);

        public static async Task<JwksServer> StartAsync(RuntimeSigningKeys keys)
        {
            var server = new JwksServer();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Services.AddSingleton(keys);
            server._app = builder.Build();
            server._app.Use(async (context, next) =>
            {
                Interlocked.Increment(ref server._requests);
                await next(context);
            });
            server._app.MapJwks();
            await server._app.StartAsync(Cancel);
            server.JwksUrl = AddressOf(server._app) + TokenServices.JwksPath;
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }

    /// <summary>An OpenID Connect provider's discovery document and RS256 key set on loopback.</summary>
    private sealed class OidcProvider : IAsyncDisposable
    {
        private readonly RSA _rsa = RSA.Create(2048);
        private WebApplication _app = null!;

        public string Issuer { get; private set; } = string.Empty;

        public static async Task<OidcProvider> StartAsync()
        {
            var provider = new OidcProvider();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            provider._app = builder.Build();
            provider._app.MapGet("/.well-known/openid-configuration", () => Results.Json(new
            {
                issuer = provider.Issuer,
                jwks_uri = $"{provider.Issuer}/jwks",
                id_token_signing_alg_values_supported = ProviderAlgorithms,
            }));
            provider._app.MapGet("/jwks", () =>
            {
                var parameters = provider._rsa.ExportParameters(includePrivateParameters: false);
                return Results.Json(new
                {
                    keys = new[]
                    {
                        new { kty = "RSA", use = "sig", alg = "RS256", kid = "provider-1", n = Base64UrlEncoder.Encode(parameters.Modulus), e = Base64UrlEncoder.Encode(parameters.Exponent) },
                    },
                });
            });
            await provider._app.StartAsync(Cancel);
            provider.Issuer = AddressOf(provider._app);
            return provider;
        }

        public string Issue(Dictionary<string, object> claims) => Sign(new RsaSecurityKey(_rsa) { KeyId = "provider-1" }, claims);

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
            _rsa.Dispose();
        }
    }
}
