# syntax=docker/dockerfile:1
# GruService: built with the .NET SDK, run on the smaller ASP.NET Core runtime image as a non-root user.
#   docker build -t gruservice .
#   docker run -p 8080:8080 -v gru-data:/data gruservice
# scripts/validate-deploy.sh runs these same steps without Docker: the `dotnet publish` below, then the published app
# started as an unprivileged user with this file's runtime ENV, probed on /readyz and with --healthcheck.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore from the project files alone first, so the package layer is rebuilt only when a dependency changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/GruService.Engine/GruService.Engine.csproj src/GruService.Engine/
COPY src/GruService.Api/GruService.Api.csproj src/GruService.Api/
RUN dotnet restore src/GruService.Api/GruService.Api.csproj
COPY src/GruService.Engine/ src/GruService.Engine/
COPY src/GruService.Api/ src/GruService.Api/
# The bundled default models: the Api project copies models/*.safetensors into the output's models/ folder, where
# Models:BundledDirectory ("models", relative to the application directory) finds them at start-up.
COPY models/*.safetensors models/
RUN dotnet publish src/GruService.Api/GruService.Api.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
# Owned by root and read-only to the app user: the application directory cannot be changed by the process it runs.
COPY --from=build /app ./
# The storage root (model versions, datasets, job records, checkpoints). The .NET images define the unprivileged
# user "app" with the numeric id $APP_UID; the directory is created owned by it so that a fresh volume is too.
RUN mkdir /data && chown "$APP_UID:$APP_UID" /data
VOLUME /data
ENV ASPNETCORE_HTTP_PORTS=8080 \
    Storage__Root=/data
EXPOSE 8080
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER $APP_UID
# The app probes itself (GruService.Api --healthcheck GETs /healthz on ASPNETCORE_HTTP_PORTS): no curl or shell
# needed. start-period covers loading the stored models.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["dotnet", "/app/GruService.Api.dll", "--healthcheck"]
ENTRYPOINT ["dotnet", "/app/GruService.Api.dll"]
