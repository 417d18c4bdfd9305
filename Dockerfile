# syntax=docker/dockerfile:1
# Build with the SDK, run on the ASP.NET runtime image as a non-root user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props GruService.sln ./
COPY src/GruService.Engine/GruService.Engine.csproj src/GruService.Engine/
COPY src/GruService.Api/GruService.Api.csproj src/GruService.Api/
RUN dotnet restore src/GruService.Api/GruService.Api.csproj
COPY src/ src/
COPY models/ models/
RUN dotnet publish src/GruService.Api/GruService.Api.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The storage root (uploaded model versions) lives on a volume owned by the app user.
RUN mkdir -p /data && chown "$APP_UID" /data
VOLUME /data
ENV ASPNETCORE_HTTP_PORTS=8080 \
    Storage__Root=/data
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "GruService.Api.dll"]
