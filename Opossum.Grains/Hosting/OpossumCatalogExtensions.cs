using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Grains.Backends;

namespace Opossum.Grains.Hosting;

/// <summary>The model catalog a silo and a gateway share.</summary>
public static class OpossumCatalogExtensions
{
    /// <summary>Binds the model catalog (array <c>Models</c>, <c>Opossum:DefaultModel</c>) and validates it at start-up.</summary>
    public static IServiceCollection AddOpossumModelCatalog(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ModelCatalogOptions>()
            .Configure(o =>
            {
                // One entry at a time: bound as a list, an entry with a value that does not convert is dropped without a word.
                o.Models = configuration.GetSection("Models").GetChildren().Select(m => m.Get<ModelDefinition>() ?? new ModelDefinition()).ToList();
                o.DefaultModel = configuration["Opossum:DefaultModel"];
            })
            .ValidateProblemsOnStart(o => o.Validate(BackendNames.All));
        return services;
    }
}
