using System.Net;
using System.Reflection;
using System.Text;
using Opossum.Gateway.Protection;
using Microsoft.Extensions.Options;

namespace Opossum.Gateway.Web;

/// <summary>
/// The page a person opens at <c>/</c>: chat, service status and recent traces, three files embedded in the
/// gateway and served from its own origin only (a Content-Security-Policy of <c>'self'</c> says so to the browser).
/// <c>OPOSSUM_TRACE_URL</c> (e.g. <c>http://localhost:16686/trace/{traceId}</c>) makes trace ids links.
/// </summary>
public sealed class WebPage
{
    private const string Policy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private readonly Dictionary<string, (byte[] Body, string ContentType)> _files = new(StringComparer.Ordinal);

    public WebPage(IOptions<WebPageOptions> options, ApiKeys keys)
    {
        var traceUrl = options.Value.TraceUrl;
        var page = Read("index.html")
            .Replace("{{TRACE_URL}}", WebUtility.HtmlEncode(traceUrl), StringComparison.Ordinal)
            .Replace("{{KEYS_REQUIRED}}", keys.Required ? "true" : "false", StringComparison.Ordinal);
        _files["/"] = (Encoding.UTF8.GetBytes(page), "text/html; charset=utf-8");
        _files["/app.js"] = (Encoding.UTF8.GetBytes(Read("app.js")), "text/javascript; charset=utf-8");
        _files["/app.css"] = (Encoding.UTF8.GetBytes(Read("app.css")), "text/css; charset=utf-8");
    }

    public IEnumerable<string> Paths => _files.Keys;

    public Task ServeAsync(HttpContext context)
    {
        var (body, contentType) = _files[context.Request.Path.Value ?? "/"];
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = Policy;
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-cache";
        headers["Referrer-Policy"] = "no-referrer";
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static string Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("web/" + name)
                           ?? throw new InvalidOperationException($"The page's {name} is not embedded in the gateway.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
