using GruService.Api.Datasets;
using GruService.Api.Health;
using GruService.Api.Hosting;
using GruService.Api.Inference;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Api.Observability;
using GruService.Api.OpenApi;
using GruService.Api.Problems;
using GruService.Api.Storage;
using GruService.Api.Security;
using GruService.Api.Training;

if (HealthCheckCommand.IsRequested(args)) { Environment.ExitCode = await HealthCheckCommand.RunAsync(args); return; } // the container HEALTHCHECK

// appsettings.json is read from beside the executable, whatever the working directory; Storage:Root stays relative to it.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

builder.AddGruLogging();
builder.Services.AddGruProblemDetails();
builder.Services.AddGruSecurity();
builder.Services.AddGracefulShutdown();
builder.Services.AddGruJson();
builder.Services.AddGruStorage();
builder.Services.AddModelRegistry();
builder.Services.AddInference();
builder.Services.AddDatasets();
builder.Services.AddTrainingJobs();
builder.Services.AddGruMetrics();
builder.Services.AddGruOpenApi();
builder.Services.AddGruHealth();

var app = builder.Build();

app.UseRequestLogging();
app.UseGruProblemDetails();
app.UseGruSecurity();

app.MapModelsApi();
app.MapInferenceApi();
app.MapDatasetsApi();
app.MapTrainingJobsApi();
app.MapHealthApi();
app.MapMetrics();
app.MapGruOpenApi();

Environment.ExitCode = await app.RunUnlessMisconfiguredAsync(); // an invalid setting: one line each and exit code 1, not a crash

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
