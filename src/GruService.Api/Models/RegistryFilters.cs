using GruService.Api.Problems;

namespace GruService.Api.Models;

/// <summary>Until the stored models are loaded, model and inference endpoints answer 503 with Retry-After.</summary>
internal sealed class RegistryReadyFilter(ModelRegistry registry) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (registry.IsLoaded) return next(context);
        context.HttpContext.Response.Headers.RetryAfter = "1";
        return ValueTask.FromResult<object?>(ApiProblem.ServiceUnavailable("registry_loading",
            "The model registry is still loading stored models; retry shortly."));
    }
}

/// <summary>A {name} route value that no model could have is a client error, named as such.</summary>
internal sealed class ModelNameFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (context.HttpContext.Request.RouteValues.TryGetValue("name", out object? value) && value is string name && !ModelName.IsValid(name))
            return ValueTask.FromResult<object?>(ApiProblem.BadRequest("invalid_model_name", $"'{name}' is not a valid model name: {ModelName.Rule}."));
        return next(context);
    }
}
