using Microsoft.Extensions.Primitives;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Grains;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.Gateway.Protection;

/// <summary>
/// Which web pages may use <c>/graphql</c> through their visitors' browsers: the gateway's own origin, and the origins
/// of <c>OPOSSUM_CORS_ORIGINS</c>, whose CORS preflights are answered without a key. A request with any other
/// <c>Origin</c> is refused with 403 before it is authenticated or upgraded: browsers apply no CORS to WebSocket
/// upgrades, and without keys a page elsewhere could otherwise drive the gateway from its visitors' browsers.
/// Requests without an <c>Origin</c> (servers, curl) pass as they are.
/// </summary>
/// <remarks>
/// A check of its own rather than ASP.NET Core's CORS middleware: that middleware only adds headers and leaves
/// refusing a foreign request to the browser, which never refuses a WebSocket upgrade.
/// </remarks>
public sealed class BrowserOrigins
{
    public const string Setting = "Opossum:CorsOrigins";

    /// <summary>How long a browser may keep a preflight's answer, in seconds.</summary>
    private const string PreflightMaxAge = "600";

    private readonly HashSet<string> _allowed;

    private BrowserOrigins(HashSet<string> allowed) => _allowed = allowed;

    /// <summary>Reads <c>Opossum:CorsOrigins</c>: origins separated by commas, each <c>scheme://host[:port]</c>.</summary>
    public static BrowserOrigins From(IConfiguration configuration)
    {
        var allowed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in (configuration[Setting] ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            allowed.Add(Parse(entry) ?? throw SettingsCheck.Invalid(
                $"{OpossumEnvironment.SettingName(Setting)} must be origins separated by commas, each scheme://host[:port] such as https://app.example.com; '{entry}' is not one."));
        }
        return new BrowserOrigins(allowed);
    }

    /// <summary>The origin as browsers write it (lower case, no default port), or null when the entry is not an http(s) origin.</summary>
    private static string? Parse(string entry) =>
        entry.IndexOfAny(['?', '#']) < 0 && Uri.TryCreate(entry, UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https" && uri.UserInfo.Length == 0 && uri.AbsolutePath == "/"
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;

    /// <summary><paramref name="next"/> behind the check: allowed origins get CORS headers (a preflight is answered here), foreign ones 403.</summary>
    public RequestDelegate Guard(RequestDelegate next) => context =>
    {
        var origin = context.Request.Headers.Origin;
        if (StringValues.IsNullOrEmpty(origin) || IsOwn(context.Request, origin.ToString()))
            return next(context);
        if (!_allowed.Contains(origin.ToString()))
            return RefuseAsync(context, origin.ToString());

        var headers = context.Response.Headers;
        headers.AccessControlAllowOrigin = origin;
        headers.Vary = "Origin";
        if (HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            headers.AccessControlAllowMethods = "GET, POST";
            headers.AccessControlAllowHeaders = "Authorization, Content-Type, Accept";
            headers.AccessControlMaxAge = PreflightMaxAge;
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }
        headers.AccessControlExposeHeaders = "Retry-After"; // a 429's wait, for a page that reads it
        return next(context);
    };

    /// <summary>True when a browser sent the request from a page of this gateway (the same scheme, host and port).</summary>
    private static bool IsOwn(HttpRequest request, string origin)
    {
        var scheme = request.Scheme;
        var host = request.Host.Value ?? "";
        return origin.Length == scheme.Length + 3 + host.Length
            && origin.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            && origin.AsSpan(scheme.Length).StartsWith("://", StringComparison.Ordinal)
            && origin.AsSpan(scheme.Length + 3).Equals(host, StringComparison.OrdinalIgnoreCase);
    }

    private static Task RefuseAsync(HttpContext context, string origin)
    {
        ClientLimiter.Refuse(null, "origin");
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        var message = $"Requests from pages of {origin} are not allowed: the server lists the origins that may call it in OPOSSUM_CORS_ORIGINS.";
        return context.Response.WriteAsJsonAsync(new
        {
            errors = new[] { new { message, extensions = new { code = ErrorCodes.Forbidden, traceId = TraceIds.Current() } } },
        }, context.RequestAborted);
    }
}
