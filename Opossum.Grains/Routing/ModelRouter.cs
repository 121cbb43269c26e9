using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;

namespace Opossum.Grains.Routing;

/// <summary>Chooses the models a request may be answered by, first choice first.</summary>
public sealed class ModelRouter(IOptions<ModelCatalogOptions> catalog, IOptions<RoutingOptions> routing, BackendRegistry backends)
{
    private static readonly string[] PreferredBackends = [BackendNames.Gemini, BackendNames.Ollama];

    private IReadOnlyList<ModelDefinition>? _order;
    private readonly ConcurrentDictionary<(string?, ModelNeeds), IReadOnlyList<ModelDefinition>> _candidates = new();

    private ModelCatalogOptions Catalog => catalog.Value;

    /// <summary>The fallback order: configured, or Gemini models before Ollama models before the rest.</summary>
    public IReadOnlyList<ModelDefinition> Order => _order ??=
        routing.Value.FallbackOrder.Count > 0
            ? routing.Value.FallbackOrder.Select(name => Catalog.Find(name)).OfType<ModelDefinition>().ToList()
            : Catalog.Models.OrderBy(m => Array.IndexOf(PreferredBackends, m.Backend) is var i && i < 0 ? int.MaxValue : i).ToList();

    /// <summary>
    /// The first choice (the named model, else OPOSSUM_DEFAULT_MODEL, else the first model of an enabled
    /// backend in fallback order) followed by at most <c>MaxFallbacks</c> others; all of them models that have
    /// what the request <paramref name="needs"/> (images, tools, schemas), else BAD_USER_INPUT naming what is missing.
    /// </summary>
    public IReadOnlyList<ModelDefinition> Candidates(string? requested, ModelNeeds needs) =>
        // The catalog and the enabled backends are fixed for the process, so each answer is too;
        // only known models are cached (an unknown one throws), which bounds the cache by the catalog.
        _candidates.GetOrAdd((requested, needs), static (key, router) => router.Choose(key.Item1, key.Item2), this);

    private IReadOnlyList<ModelDefinition> Choose(string? requested, ModelNeeds needs)
    {
        var order = Order.Where(m => m.Meets(needs)).ToList();
        if (order.Count == 0)
            throw OpossumException.BadInput(needs == ModelNeeds.Images
                ? "No configured model supports images."
                : $"No configured model takes {needs.Words()}.");

        ModelDefinition first;
        if (requested is not null)
        {
            first = Catalog.Find(requested) ?? throw OpossumException.ModelNotFound(requested);
            if (!first.Meets(needs))
                throw OpossumException.BadInput(
                    $"Model '{first.Name}' does not take {first.Missing(needs)}. Models that do: {string.Join(", ", order.Select(m => m.Name))}.", "model");
        }
        else
        {
            var preferred = Catalog.DefaultModel is { Length: > 0 } name ? Catalog.Find(name) : null;
            first = preferred is not null && preferred.Meets(needs)
                ? preferred
                : order.FirstOrDefault(m => backends.IsEnabled(m.Backend)) ?? order[0];
        }

        return order.Where(m => m != first).Take(routing.Value.MaxFallbacks).Prepend(first).ToList();
    }
}
